package job

import (
	"fmt"
	"slices"
)

// Tag limits. A tag is 1 to MaxTagLen bytes of lowercase letters, digits,
// '.', '_', ':' and '-' ("gpu", "cplex-license", "team:ops"); a record or
// a job type carries at most MaxTags of them. The characters exclude ','
// (records store a list of tags joined by it) and '~' and '+' (queue names
// of routed tasks join required tags with them), so every list reads one
// way.
const (
	MaxTagLen = 64
	MaxTags   = 32
)

// ValidTag tells whether t is a well-formed tag.
func ValidTag(t string) bool {
	if t == "" || len(t) > MaxTagLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// CheckTags refuses a malformed tag or too many of them with an *Error of
// code CodeInvalid whose violations point at pointer + "/<index>", and
// returns the tags sorted without duplicates (nil for none), the form
// records keep.
func CheckTags(pointer string, tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	var viol []Violation
	for i, t := range tags {
		if !ValidTag(t) {
			viol = append(viol, Violation{Pointer: fmt.Sprintf("%s/%d", pointer, i), Keyword: "pattern",
				Message: fmt.Sprintf("tag %.80q: 1 to %d of a-z, 0-9, '.', '_', ':', '-'", t, MaxTagLen)})
		}
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTags {
		viol = append(viol, Violation{Pointer: pointer, Keyword: "maxItems", Message: fmt.Sprintf("at most %d tags", MaxTags)})
	}
	if len(viol) > 0 {
		return nil, &Error{Code: CodeInvalid, Message: "invalid tags", Violations: viol}
	}
	return out, nil
}

// WithTags labels the job type with tags (Definition.Tags): GET /tags
// counts the job types carrying a tag and GET /tags/{tag} names them. They
// do not route executions; see WithRequiredTags. A malformed tag is
// reported when the definition is registered.
func WithTags(tags ...string) Option {
	return tagOption("/tags", tags, func(d *Definition, t []string) { d.Tags = t })
}

// WithRequiredTags makes every execution of the job type run only on a
// worker whose solvekit.Config.WorkerTags include all of tags (for
// example "gpu" or "cplex-license"), whatever its submit asks for beside
// (Definition.RequiredTags). A malformed tag is reported when the
// definition is registered.
func WithRequiredTags(tags ...string) Option {
	return tagOption("/require_tags", tags, func(d *Definition, t []string) { d.RequiredTags = t })
}

// tagOption is an Option that checks tags (a malformed one, at pointer,
// is reported when the definition is registered) and stores them with
// set.
func tagOption(pointer string, tags []string, set func(*Definition, []string)) Option {
	return func(d *Definition) {
		out, err := CheckTags(pointer, tags)
		if err != nil && d.err == nil {
			d.err = fmt.Errorf("job %q: %w", d.Name, err)
		}
		set(d, out)
	}
}
