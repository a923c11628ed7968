package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/solvekit/solvekit/transport/api"
	"github.com/solvekit/solvekit/transport/client"
)

// app is one run of the command: its streams, environment and the global
// flags.
type app struct {
	stdin       io.Reader
	out, errOut io.Writer
	getenv      func(string) string
	flags       struct{ server, token, config, output string }
}

// defaultServer is the server of the client commands when nothing names one.
const defaultServer = "http://localhost:8080"

// fileConfig is the client config file: where the API is and the token to
// send it.
type fileConfig struct {
	Server string `json:"server,omitempty"`
	Token  string `json:"token,omitempty"`
}

// configPath is the client config file's path: --config, SOLVEKIT_CONFIG,
// or solvekit/config.json in the user's config directory.
func (a *app) configPath() (string, error) {
	if a.flags.config != "" {
		return a.flags.config, nil
	}
	if p := a.getenv("SOLVEKIT_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "solvekit", "config.json"), nil
}

// readConfig reads the config file; a missing one is an empty config.
func (a *app) readConfig() (fileConfig, error) {
	var fc fileConfig
	p, err := a.configPath()
	if err != nil {
		return fc, nil // no home directory: no config file
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return fc, nil
	}
	if err != nil {
		return fc, err
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return fc, fmt.Errorf("config file %s: %w", p, err)
	}
	return fc, nil
}

// writeConfig writes the config file, readable by its owner only (it
// holds a token).
func (a *app) writeConfig(fc fileConfig) (string, error) {
	p, err := a.configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(fc, "", "  ")
	return p, os.WriteFile(p, append(b, '\n'), 0o600)
}

// target is the server URL and token: from the flags, else the
// environment, else the config file.
func (a *app) target() (server, token string, err error) {
	fc, err := a.readConfig()
	if err != nil {
		return "", "", err
	}
	server = first(a.flags.server, a.getenv("SOLVEKIT_SERVER"), fc.Server, defaultServer)
	token = first(a.flags.token, a.getenv("SOLVEKIT_TOKEN"), fc.Token)
	return server, token, nil
}

// client is a REST client of the target server.
func (a *app) client() (*client.Client, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	server, token, err := a.target()
	if err != nil {
		return nil, err
	}
	var opts []client.Option
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return client.New(server, opts...), nil
}

func (a *app) checkOutput() error {
	switch a.flags.output {
	case "table", "json":
		return nil
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want table or json", a.flags.output)}
}

// json reports whether the output is JSON.
func (a *app) json() bool { return a.flags.output == "json" }

// show writes v as indented JSON with --output json, else calls table
// with a tab-aligned writer on stdout.
func (a *app) show(v any, table func(w io.Writer)) error {
	if a.json() {
		return writeJSON(a.out, v)
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// describe is an error as the command reports it: an API problem with a
// hint where the fix is on the caller's side.
func describe(err error) string {
	var p *api.Problem
	if !errors.As(err, &p) {
		return err.Error()
	}
	msg := err.Error()
	switch p.Status {
	case 401:
		msg += " (the server refused the credentials: check --token, SOLVEKIT_TOKEN or the config file, or run solvekit login)"
	case 403:
		msg += " (the token's role may not do this)"
	}
	return msg
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// dash is s, or "-" when it is empty (an empty table cell).
func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// num formats *f compactly, or "-" when f is nil.
func num(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.6g", *f)
}
