// Package users is the REST layer's own store of built-in users, API keys,
// login throttling and the bootstrap token, on the Service's Redis. It is
// the built-in Authenticator's data; hosts that bring their own
// Authenticator never touch it. Execution records and their job keys live
// in the execution store, not here.
package users

import (
	"strconv"
	"time"
)

// Page is a window of a listing.
type Page struct {
	Limit, Offset int
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func parseMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s == "" {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func parseMSPtr(s string) *time.Time {
	if s == "" {
		return nil
	}
	t := parseMS(s)
	return &t
}
