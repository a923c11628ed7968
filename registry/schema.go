package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/solvekit/solvekit/internal/jsontree"
	"github.com/solvekit/solvekit/job"
)

// Schema is a compiled JSON Schema (draft-07 or 2020-12) with the name it
// reports in errors ("instance", "config", ...). It is immutable once
// compiled and safe for concurrent use. A nil *Schema accepts any JSON value.
type Schema struct {
	name   string
	raw    json.RawMessage
	doc    any // raw, decoded: for draft-07 "default"s beside "$ref"
	base   string
	schema *jsonschema.Schema
	quick  *quick // nil: the schema uses a keyword only the library decides
}

// baseScheme names the made-up location schemas are compiled under. It only
// serves to resolve local "$ref"s; nothing is ever loaded from it.
const baseScheme = "solvekit"

func baseURL(name string) string {
	return baseScheme + ":///" + url.PathEscape(name) + ".schema.json"
}

// knownDrafts are the "$schema" values the compiler understands without
// loading anything (draft-07 and 2020-12 are the documented ones; the others
// come free with the library).
var knownDrafts = map[string]bool{
	"json-schema.org/draft/2020-12/schema": true,
	"json-schema.org/draft/2019-09/schema": true,
	"json-schema.org/draft-07/schema":      true,
	"json-schema.org/draft-06/schema":      true,
	"json-schema.org/draft-04/schema":      true,
}

// CompileSchema compiles the JSON Schema raw, naming it name in every error
// and validation message. Empty raw (nil or only white space) returns
// (nil, nil): no schema, any JSON value is accepted.
//
// "$schema" selects draft-07 or 2020-12 (default 2020-12). "format" is
// asserted in every draft (2020-12 would otherwise only annotate it), so a
// schema that says "format": "date-time" means it. References are resolved
// inside the document only: a "$ref" to another URL or file is refused with
// an error, since validation must never reach the network or the disk.
func CompileSchema(name string, raw []byte) (*Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s schema is not valid JSON: %s", name, describeJSONError(raw, err))
	}
	if m, ok := doc.(map[string]any); ok {
		if v, ok := m["$schema"]; ok {
			s, _ := v.(string)
			if !knownDraft(s) {
				return nil, fmt.Errorf("%s schema has unsupported $schema %s: use %q or %q", name,
					quoteValue(v), "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema")
			}
		}
	}

	base := baseURL(name)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.ExtractAnnotations = true // keeps "default" for ApplyDefaults
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, &refusedRefError{ref: strings.TrimPrefix(u, baseScheme+":///")}
	}
	if err := c.AddResource(base, bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%s schema is not valid JSON: %v", name, err)
	}
	compiled, err := c.Compile(base)
	if err != nil {
		return nil, compileError(name, base, err)
	}
	return &Schema{name: name, raw: append(json.RawMessage(nil), raw...), doc: doc, base: base, schema: compiled,
		quick: newQuick(compiled)}, nil
}

func knownDraft(s string) bool {
	s = strings.TrimSuffix(s, "#")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	return knownDrafts[s]
}

// refusedRefError is returned by the compiler's loader: solvekit never
// fetches schemas.
type refusedRefError struct{ ref string }

func (e *refusedRefError) Error() string {
	return fmt.Sprintf("$ref %q points outside this schema; remote and file references are refused "+
		"(schemas are never fetched): inline the referenced schema under \"$defs\"", e.ref)
}

// compileError turns the library's compile error into one clear sentence
// naming the schema; meta-schema violations are listed with pointers into
// the schema document.
func compileError(name, base string, err error) error {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		vs := violations(ve, false)
		parts := make([]string, len(vs))
		for i, v := range vs {
			p := v.Pointer
			if p == "" {
				p = "/"
			}
			parts[i] = fmt.Sprintf("at %s: %s", p, v.Message)
		}
		return fmt.Errorf("%s schema is not a valid JSON Schema: %s", name, strings.Join(parts, "; "))
	}
	var re *refusedRefError
	if errors.As(err, &re) {
		return fmt.Errorf("%s schema does not compile: %w", name, re)
	}
	msg := err.Error()
	var se *jsonschema.SchemaError
	if errors.As(err, &se) && se.Err != nil {
		msg = se.Err.Error()
	}
	msg = strings.TrimPrefix(msg, "jsonschema: ")
	msg = strings.ReplaceAll(msg, base, "")
	if loc, ok := strings.CutPrefix(msg, "infinite loop "); ok {
		msg = fmt.Sprintf("$ref loop at %s: the references never reach a schema", loc)
	} else if ref, ok := strings.CutSuffix(msg, " not found"); ok && !strings.Contains(ref, " ") {
		msg = fmt.Sprintf("$ref %q does not resolve: the schema has nothing at that location", ref)
	}
	return fmt.Errorf("%s schema does not compile: %s", name, msg)
}

// Name returns the name the schema reports in its errors.
func (s *Schema) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Raw returns the schema document as it was given, for listings and the
// OpenAPI document; callers must not modify it. A nil schema returns nil.
func (s *Schema) Raw() json.RawMessage {
	if s == nil {
		return nil
	}
	return s.raw
}

// Validate checks doc against the schema. Malformed JSON is a *job.Error
// with job.CodeBadRequest; a document that breaks the schema is a *job.Error
// with job.CodeInvalid, message "<name> is invalid", and one Violation per
// failing leaf, sorted by pointer then keyword. At most 1000 violations are
// listed (maxViolations): past that, 1000 of them are (those of the values
// met first in the document, for the schemas quick reads; else the first
// by pointer), sorted alike, and the message is "<name> is invalid (only
// the first 1000 violations are listed)". A nil schema only checks that
// doc is JSON.
func (s *Schema) Validate(doc json.RawMessage) error {
	name := "document"
	if s != nil {
		name = s.name
	}
	return s.validateAs(name, doc)
}

func (s *Schema) validateAs(name string, doc json.RawMessage) error {
	_, err := s.validateTree(name, doc)
	return err
}

// validateTree is validateAs that also returns the document's tree (of
// fastDecode) when it is valid, was read by fastDecode with no repeated
// member name, and was accepted by quick, which leaves it as parsed; else
// the tree is nil.
func (s *Schema) validateTree(name string, doc json.RawMessage) (any, error) {
	if s == nil {
		return nil, checkDoc(name, doc)
	}
	if len(bytes.TrimSpace(doc)) > 0 {
		if v, dup, ok := fastDecodeDup(doc); ok {
			if s.quick != nil && s.quick.valid(s.schema, v) {
				if dup {
					return nil, nil
				}
				return v, nil
			}
			return nil, s.library(name, v)
		}
	}
	v, err := parseDoc(name, doc)
	if err != nil {
		return nil, err
	}
	return nil, s.validateValue(name, v)
}

// validateValue checks a decoded document (see fastDecode for its number
// types). A document quick finds valid is accepted at once; the
// violations of any other are listed by library.
func (s *Schema) validateValue(name string, v any) error {
	if s.quick != nil && s.quick.valid(s.schema, v) {
		return nil
	}
	return s.library(name, v)
}

// library lists the violations of v, which quick did not find valid, as
// the schema library does: through finder, which runs the library only on
// the parts of v that break the schema, else with the library on all of v.
func (s *Schema) library(name string, v any) error {
	if s.quick != nil {
		f := finder{q: s.quick, legacy: s.legacyDraft()}
		f.find(s.schema, v, "", "")
		if !f.failed && len(f.out) > 0 {
			return invalid(name, sortViolations(f.out), f.cut)
		}
	}
	err := s.schema.Validate(libTree(v))
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Infinite $ref loops and the like: still the document's fault.
		return &job.Error{Code: job.CodeInvalid, Message: fmt.Sprintf("%s is invalid: %s", name,
			strings.TrimPrefix(err.Error(), "jsonschema: "))}
	}
	return invalid(name, violations(ve, s.legacyDraft()), false)
}

// maxViolations is the most violations an invalid document's error lists:
// past it, a caller learns little more, while the error (and the answer
// that carries it) would grow with the document.
const maxViolations = 1000

// invalid is the error of a document with violations vs (sorted), cut to
// maxViolations; cut says that the document has more than vs. A cut list
// says so in the message.
func invalid(name string, vs []job.Violation, cut bool) *job.Error {
	msg := name + " is invalid"
	if cut || len(vs) > maxViolations {
		vs = vs[:min(len(vs), maxViolations)]
		msg = fmt.Sprintf("%s is invalid (only the first %d violations are listed)", name, len(vs))
	}
	return &job.Error{Code: job.CodeInvalid, Message: msg, Violations: vs}
}

// legacyDraft reports whether the schema is older than 2019-09, where
// "contains" has no minContains/maxContains.
func (s *Schema) legacyDraft() bool { return legacy(s.schema.Draft) }

func legacy(d *jsonschema.Draft) bool {
	return d == jsonschema.Draft7 || d == jsonschema.Draft6 || d == jsonschema.Draft4
}

// parseDoc decodes doc with fastDecode (numbers stay exact: int64 or
// json.Number); a document it does not take is decoded again by
// decodeJSON, for the error.
func parseDoc(name string, doc json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, &job.Error{Code: job.CodeBadRequest, Message: name + " is empty: expected a JSON value"}
	}
	if v, ok := fastDecode(doc); ok {
		return v, nil
	}
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, &job.Error{Code: job.CodeBadRequest,
			Message: fmt.Sprintf("%s is not valid JSON: %s", name, describeJSONError(doc, err))}
	}
	return v, nil
}

// checkDoc is parseDoc for a document no schema reads: json.Valid answers
// without building the value, and only a bad document is decoded, for
// its error.
func checkDoc(name string, doc json.RawMessage) error {
	if json.Valid(doc) {
		return nil
	}
	_, err := parseDoc(name, doc)
	if err == nil {
		// json.Valid and the decoder disagree; the decoder's leniency wins.
		return nil
	}
	return err
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	pos := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		for pos < int64(len(b)) && strings.IndexByte(" \t\r\n", b[pos]) >= 0 {
			pos++
		}
		return nil, &trailingDataError{pos: pos}
	}
	return v, nil
}

// trailingDataError reports a second value after the document.
type trailingDataError struct{ pos int64 }

func (e *trailingDataError) Error() string { return "unexpected data after the top-level value" }

// describeJSONError adds the line and column of the offending byte.
func describeJSONError(b []byte, err error) string {
	var se *json.SyntaxError
	var td *trailingDataError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included.
		return fmt.Sprintf("%s (%s)", se.Error(), position(b, se.Offset-1))
	case errors.As(err, &td):
		return fmt.Sprintf("%s (%s)", td.Error(), position(b, td.pos))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON input"
	}
	return err.Error()
}

// position returns "line L, column C" (both from 1) of byte index pos.
func position(b []byte, pos int64) string {
	pos = max(0, min(pos, int64(len(b))))
	line, col := 1, 1
	for _, c := range b[:pos] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}

func quoteValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// violations flattens a validation error tree into its leaves, sorted by
// pointer, keyword and message, without duplicates (allOf branches can
// report the same leaf twice).
func violations(ve *jsonschema.ValidationError, legacy bool) []job.Violation {
	return sortViolations(appendViolations(nil, ve, legacy, "", ""))
}

// appendViolations appends the leaves of ve to out, unsorted. ve comes from
// a schema found at keyword location kw of the root schema, applied to the
// value at pointer ptr of the document ("" and "" for the root): its
// locations are relative to those.
func appendViolations(out []job.Violation, ve *jsonschema.ValidationError, legacy bool, kw, ptr string) []job.Violation {
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		kw := keyword(kw + e.KeywordLocation)
		// A failed contains/minContains lists every non-matching item as a
		// cause; those are not errors in themselves, the missing match is.
		if len(e.Causes) > 0 && (kw != "minContains" && kw != "maxContains") {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if legacy && (kw == "minContains" || kw == "maxContains") {
			kw = "contains"
		}
		msg := e.Message
		ptr := ptr + pointer(e.InstanceLocation)
		if kw == "additionalProperties" {
			// "additionalProperties false" fails once on the object,
			// naming every extra property: one violation per property,
			// pointing at it, so that a client can mark the field.
			if names, ok := additionalNames(msg); ok {
				for _, n := range names {
					out = append(out, job.Violation{Pointer: ptr + "/" + escapeToken(n), Keyword: kw,
						Message: "additionalProperties " + quoteName(n) + " not allowed"})
				}
				return
			}
			msg = sortAdditional(msg)
		}
		out = append(out, job.Violation{Pointer: ptr, Keyword: kw, Message: msg})
	}
	walk(ve)
	return out
}

// sortViolations sorts violations by pointer, keyword and message and drops
// repeated ones.
func sortViolations(out []job.Violation) []job.Violation {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Pointer != b.Pointer {
			return a.Pointer < b.Pointer
		}
		if a.Keyword != b.Keyword {
			return a.Keyword < b.Keyword
		}
		return a.Message < b.Message
	})
	uniq := out[:0]
	for i, v := range out {
		if i == 0 || v != out[i-1] {
			uniq = append(uniq, v)
		}
	}
	return uniq
}

// pointer turns the library's instance location (RFC 6901 tokens that are
// additionally URL path-escaped) into a plain RFC 6901 pointer.
func pointer(loc string) string {
	if loc == "" {
		return ""
	}
	segs := strings.Split(strings.TrimPrefix(loc, "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return "/" + strings.Join(segs, "/")
}

// Subschema keywords whose next location segment is a property name (or a
// pattern) rather than a keyword.
var namedKeywords = map[string]bool{
	"properties": true, "patternProperties": true, "$defs": true, "definitions": true,
	"dependentSchemas": true, "dependencies": true, "dependentRequired": true,
}

// keyword returns the keyword that failed at a keyword location such as
// "/properties/items/items/properties/weight/minimum": the last segment
// that is in keyword position (property names and array indexes are
// skipped). A failing false subschema reports the keyword that holds it
// ("properties", "items"); the root false schema reports "false".
func keyword(loc string) string {
	last := ""
	nameNext := false
	for _, seg := range strings.Split(strings.TrimPrefix(loc, "/"), "/") {
		switch {
		case seg == "":
		case nameNext:
			nameNext = false
		case isIndex(seg):
		default:
			last = seg
			nameNext = namedKeywords[seg]
		}
	}
	if last == "" {
		return "false"
	}
	return last
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// sortAdditional sorts the property list of the library's
// "additionalProperties 'b', 'a' not allowed" message, which comes from a
// map and would otherwise change from run to run.
func sortAdditional(msg string) string {
	const pre, suf = "additionalProperties ", " not allowed"
	if !strings.HasPrefix(msg, pre) || !strings.HasSuffix(msg, suf) {
		return msg
	}
	list := msg[len(pre) : len(msg)-len(suf)]
	var names []string
	for len(list) > 0 {
		if list[0] != '\'' {
			return msg
		}
		end := -1
		for i := 1; i < len(list); i++ {
			if list[i] == '\\' {
				i++
				continue
			}
			if list[i] == '\'' {
				end = i
				break
			}
		}
		if end < 0 {
			return msg
		}
		names = append(names, list[:end+1])
		list = list[end+1:]
		if len(list) > 0 {
			if !strings.HasPrefix(list, ", ") {
				return msg
			}
			list = list[2:]
		}
	}
	sort.Strings(names)
	return pre + strings.Join(names, ", ") + suf
}

// additionalNames returns the property names of the library's
// "additionalProperties 'a', 'b' not allowed" message, unquoted.
func additionalNames(msg string) ([]string, bool) {
	const pre, suf = "additionalProperties ", " not allowed"
	if !strings.HasPrefix(msg, pre) || !strings.HasSuffix(msg, suf) {
		return nil, false
	}
	list := msg[len(pre) : len(msg)-len(suf)]
	var names []string
	for len(list) > 0 {
		if list[0] != '\'' {
			return nil, false
		}
		// The library quotes a name as Go's %q does, then unescapes '"'
		// and escapes '\''; undo that and let strconv unquote the rest.
		var b strings.Builder
		end := -1
		for i := 1; i < len(list); i++ {
			c := list[i]
			if c == '\\' && i+1 < len(list) {
				if list[i+1] == '\'' {
					b.WriteByte('\'')
				} else {
					b.WriteByte(c)
					b.WriteByte(list[i+1])
				}
				i++
				continue
			}
			if c == '\'' {
				end = i
				break
			}
			if c == '"' {
				b.WriteString(`\"`)
				continue
			}
			b.WriteByte(c)
		}
		if end < 0 {
			return nil, false
		}
		name, err := strconv.Unquote(`"` + b.String() + `"`)
		if err != nil {
			return nil, false
		}
		names = append(names, name)
		list = list[end+1:]
		if len(list) > 0 {
			if !strings.HasPrefix(list, ", ") {
				return nil, false
			}
			list = list[2:]
		}
	}
	return names, len(names) > 0
}

// quoteName quotes a property name for a message as the library does.
func quoteName(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	return "'" + strings.ReplaceAll(q, "'", `\'`) + "'"
}

// escapeToken escapes one RFC 6901 reference token.
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// ApplyDefaults fills the properties doc lacks with the schema's "default"
// values and returns the result as compact JSON (object keys sorted); the
// caller validates it afterwards.
//
// Defaults are taken from "properties" of every object in doc, following
// local "$ref"s and "allOf"; existing nested objects and array items
// ("items", "prefixItems") are filled recursively, and so are the values
// of "additionalProperties" schemas. A missing property is created only
// when it has a "default" itself; the created value is then filled in turn.
// A draft-07 "default" beside a "$ref" counts too, although the draft
// ignores a $ref's siblings: such schemas are common and the result is
// validated anyway.
// An empty or null doc whose schema has type object starts as {} (or as the
// schema's own default). A nil schema returns doc unchanged; malformed JSON
// is a job.CodeBadRequest error.
func (s *Schema) ApplyDefaults(doc json.RawMessage) (json.RawMessage, error) {
	if s == nil {
		return doc, nil
	}
	v, err := s.fillDefaults(s.name, doc)
	if err != nil {
		return nil, err
	}
	if v == nil && len(bytes.TrimSpace(doc)) == 0 {
		return doc, nil
	}
	return encodeJSON(v)
}

// fillDefaults parses doc and fills it; a nil result for an empty doc means
// "still empty".
func (s *Schema) fillDefaults(name string, doc json.RawMessage) (any, error) {
	var v any
	empty := len(bytes.TrimSpace(doc)) == 0
	if !empty {
		var err error
		if v, err = parseDoc(name, doc); err != nil {
			return nil, err
		}
		v = libTree(v)
	}
	f := filler{root: s, creating: map[*jsonschema.Schema]bool{}}
	if v == nil {
		if d, ok := f.defaultOf(s.schema); ok {
			v = jsontree.Clone(d)
		} else if hasType(s.schema, "object") {
			v = map[string]any{}
		} else if empty {
			return nil, nil
		}
	}
	return f.fill(v, s.schema), nil
}

func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

type filler struct {
	root *Schema
	// creating holds the property schemas whose defaults are being filled
	// right now; a recursive schema whose default would recreate itself
	// gets its default once, not forever.
	creating map[*jsonschema.Schema]bool
}

func (f *filler) fill(v any, sch *jsonschema.Schema) any {
	if sch == nil {
		return v
	}
	schemas := expand(sch)
	switch val := v.(type) {
	case map[string]any:
		known := map[string]bool{}
		for _, s := range schemas {
			for _, pname := range slices.Sorted(maps.Keys(s.Properties)) {
				ps := s.Properties[pname]
				known[pname] = true
				if cur, ok := val[pname]; ok {
					val[pname] = f.fill(cur, ps)
					continue
				}
				d, ok := f.defaultOf(ps)
				if !ok {
					continue
				}
				if f.creating[ps] {
					val[pname] = jsontree.Clone(d)
					continue
				}
				f.creating[ps] = true
				val[pname] = f.fill(jsontree.Clone(d), ps)
				delete(f.creating, ps)
			}
		}
		for _, s := range schemas {
			as, ok := s.AdditionalProperties.(*jsonschema.Schema)
			if !ok || len(s.PatternProperties) > 0 {
				continue
			}
			for pname, cur := range val {
				if !known[pname] {
					val[pname] = f.fill(cur, as)
				}
			}
		}
		return val
	case []any:
		for _, s := range schemas {
			for i := range val {
				if is := itemSchema(s, i); is != nil {
					val[i] = f.fill(val[i], is)
				}
			}
		}
		return val
	}
	return v
}

// itemSchema returns the schema that governs array item i, in any draft.
func itemSchema(s *jsonschema.Schema, i int) *jsonschema.Schema {
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		return items
	case []*jsonschema.Schema:
		if i < len(items) {
			return items[i]
		}
		if as, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			return as
		}
		return nil
	}
	if i < len(s.PrefixItems) {
		return s.PrefixItems[i]
	}
	return s.Items2020
}

// expand returns sch and every schema it includes by reference or allOf, in
// a stable order, each once.
func expand(sch *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema)
	walk = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		walk(s.Ref)
		walk(s.RecursiveRef)
		walk(s.DynamicRef)
		for _, a := range s.AllOf {
			walk(a)
		}
	}
	walk(sch)
	return out
}

// defaultOf returns the first "default" found on sch or the schemas it
// includes (see expand).
func (f *filler) defaultOf(sch *jsonschema.Schema) (any, bool) {
	for _, s := range expand(sch) {
		if s.Default != nil {
			return s.Default, true
		}
		if s.Ref != nil && legacy(s.Draft) {
			if d, ok := f.siblingDefault(s); ok {
				return d, true
			}
		}
	}
	return nil, false
}

// siblingDefault reads a "default" written beside a draft-07 "$ref". The
// draft says a $ref's siblings are ignored, so the compiler drops it; but
// such defaults are common in real schemas and harmless to honour, since
// the filled document is validated afterwards.
func (f *filler) siblingDefault(s *jsonschema.Schema) (any, bool) {
	frag, ok := strings.CutPrefix(s.Location, f.root.base+"#")
	if !ok {
		return nil, false
	}
	node := f.root.doc
	if frag != "" {
		for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
			if u, err := url.PathUnescape(tok); err == nil {
				tok = u
			}
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch n := node.(type) {
			case map[string]any:
				node = n[tok]
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(n) {
					return nil, false
				}
				node = n[i]
			default:
				return nil, false
			}
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, false
	}
	d := m["default"]
	return d, d != nil
}

func hasType(sch *jsonschema.Schema, t string) bool {
	for _, s := range expand(sch) {
		for _, st := range s.Types {
			if st == t {
				return true
			}
		}
	}
	return false
}
