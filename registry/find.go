package registry

import (
	"net/url"
	"regexp"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/solvekit/solvekit/job"
)

// finder lists the violations of an invalid document without running the
// schema library on all of it: the library builds a location string, a map
// of member names and a big.Rat per value, which for a large document costs
// many times what the valid document's check by quick does, and a caller
// could send invalid documents on purpose to load the server.
//
// The library's report is the union of what each keyword finds, and the
// keywords that apply a schema to a member or an item ("properties",
// "items", ...) validate that value on its own (the locations aside). So
// the finder walks the document as the library would, but quick decides
// first whether a member or an item is valid, and only the invalid ones are
// looked at again; a scalar, or a value whose schema uses a keyword that
// reads the value as a whole ("anyOf", "enum", "contains", ...), is handed
// to the library with its locations. The keywords of an object or array
// itself ("required", "additionalProperties": false, "minItems", ...) are
// checked by the library on a copy of the schema whose subschemas for
// members and items accept anything (quick.skel), so that it does not
// descend, and only when quick finds one of them broken. The violations
// are the library's own, with the same pointers, keywords and messages.
// The walk stops once maxViolations are found.
type finder struct {
	q      *quick
	legacy bool
	out    []job.Violation
	// cut is set when the document has more violations than the
	// maxViolations listed: the finder stops there.
	cut bool
	// failed is set when the library answers other than with violations
	// (an infinite $ref loop, ...) or the walk meets a $ref loop: the
	// caller then runs the library on the whole document, for its error.
	failed bool
}

// inPlace is a schema that applies to a value itself (through "$ref" or
// "allOf"), with its keyword location.
type inPlace struct {
	s  *jsonschema.Schema
	kw string
}

// find appends the violations of v (at pointer ptr of the document) against
// s (at keyword location kw of the root schema), if any.
func (f *finder) find(s *jsonschema.Schema, v any, kw, ptr string) {
	if f.failed {
		return
	}
	if len(f.out) >= maxViolations {
		// Enough listed; an invalid v means more.
		f.cut = !f.valid(s, v)
		return
	}
	var schemas []inPlace
	ok := false
	switch v.(type) {
	case *object, *array, map[string]any, []any:
		schemas, ok = f.inPlace(s, v, kw, nil, nil)
	}
	if !ok {
		if !f.failed && !f.valid(s, v) {
			f.library(s, libTree(v), kw, ptr)
		}
		return
	}

	// The value's own keywords, the library's way, when quick finds any
	// of them broken.
	sk := f.q.skel[s]
	if !f.valid(sk, v) {
		f.library(sk, shallow(v), kw, ptr)
	}

	for _, in := range schemas {
		switch v := v.(type) {
		case *object:
			f.members(in, *v, ptr)
		case map[string]any:
			f.members(in, asObject(v), ptr)
		case *array:
			f.items(in, *v, ptr)
		case []any:
			f.items(in, v, ptr)
		}
	}
}

// inPlace lists s and the schemas it applies to v through "$ref" and
// "allOf", as the library applies them: a schema whose "type" v does not
// have stops there (the library reports the type alone), and so does a
// boolean schema. It returns false when one of them uses a keyword that
// reads v as a whole (the library must check v then) or they loop.
func (f *finder) inPlace(s *jsonschema.Schema, v any, kw string, path []*jsonschema.Schema, out []inPlace) ([]inPlace, bool) {
	for _, p := range path {
		if p == s {
			f.failed = true // the library reports the loop
			return nil, false
		}
	}
	if len(path) > maxInPlace {
		return nil, false
	}
	if s.Always != nil {
		return out, true
	}
	if s.Not != nil || len(s.AnyOf)+len(s.OneOf) > 0 || s.If != nil || len(s.Constant)+len(s.Enum) > 0 ||
		s.Format != "" || s.UniqueItems || s.Contains != nil || s.PropertyNames != nil || len(s.DependentSchemas) > 0 ||
		s.RecursiveRef != nil || s.DynamicRef != nil || s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil ||
		len(s.Extensions) > 0 || s.RegexProperties || f.q.skel[s] == nil {
		return nil, false
	}
	for _, d := range s.Dependencies {
		if _, ok := d.(*jsonschema.Schema); ok {
			return nil, false
		}
	}
	if len(s.Types) > 0 {
		t := "array"
		switch v.(type) {
		case *object, map[string]any:
			t = "object"
		}
		found := false
		for _, want := range s.Types {
			found = found || want == t
		}
		if !found {
			return out, true
		}
	}
	out = append(out, inPlace{s, kw})
	path = append(path, s)
	var ok bool
	if s.Ref != nil {
		if out, ok = f.inPlace(s.Ref, v, kw+"/$ref", path, out); !ok {
			return nil, false
		}
	}
	for i, a := range s.AllOf {
		if out, ok = f.inPlace(a, v, kw+"/allOf/"+strconv.Itoa(i), path, out); !ok {
			return nil, false
		}
	}
	return out, true
}

// members checks the members of o against the subschemas in.s applies to
// them, as the library does ("properties", "patternProperties",
// "additionalProperties").
func (f *finder) members(in inPlace, o object, ptr string) {
	s := in.s
	for _, m := range o {
		if f.full() {
			return
		}
		// Locations are made only for a value that breaks its schema.
		at := func() string { return ptr + "/" + escapeToken(m.name) }
		ps, known := s.Properties[m.name]
		if known && !f.clean(ps, m.value) {
			f.find(ps, m.value, in.kw+"/properties/"+libEscape(m.name), at())
		}
		for re, ps := range s.PatternProperties {
			if re.MatchString(m.name) {
				known = true
				if !f.clean(ps, m.value) {
					f.find(ps, m.value, in.kw+"/patternProperties/"+libEscape(re.String()), at())
				}
			}
		}
		if as, ok := s.AdditionalProperties.(*jsonschema.Schema); ok && !known && !f.clean(as, m.value) {
			f.find(as, m.value, in.kw+"/additionalProperties", at())
		}
	}
}

// items checks the items of a against the subschemas in.s applies to them,
// as the library does ("items", "additionalItems", "prefixItems").
func (f *finder) items(in inPlace, a array, ptr string) {
	s := in.s
	for i, it := range a {
		if f.full() {
			return
		}
		at := func() string { return ptr + "/" + strconv.Itoa(i) }
		switch items := s.Items.(type) {
		case *jsonschema.Schema:
			if !f.clean(items, it) {
				f.find(items, it, in.kw+"/items", at())
			}
		case []*jsonschema.Schema:
			if i < len(items) {
				if !f.clean(items[i], it) {
					f.find(items[i], it, in.kw+"/items/"+strconv.Itoa(i), at())
				}
			} else if as, ok := s.AdditionalItems.(*jsonschema.Schema); ok && !f.clean(as, it) {
				f.find(as, it, in.kw+"/additionalItems", at())
			}
		}
		if i < len(s.PrefixItems) {
			if !f.clean(s.PrefixItems[i], it) {
				f.find(s.PrefixItems[i], it, in.kw+"/prefixItems/"+strconv.Itoa(i), at())
			}
		} else if s.Items2020 != nil && !f.clean(s.Items2020, it) {
			f.find(s.Items2020, it, in.kw+"/items", at())
		}
	}
}

// clean reports whether v need not be looked at again: quick finds it
// valid against s. A large object or array is not checked first but looked
// into at once (find checks what it cannot look into), so that its
// members or items are checked once, not once by this check and again one
// by one when it is invalid.
func (f *finder) clean(s *jsonschema.Schema, v any) bool {
	n := 0
	switch v := v.(type) {
	case *object:
		n = len(*v)
	case *array:
		n = len(*v)
	case map[string]any:
		n = len(v)
	case []any:
		n = len(v)
	}
	return n <= 64 && f.valid(s, v)
}

// valid reports whether quick finds v valid against s.
func (f *finder) valid(s *jsonschema.Schema, v any) bool {
	c := checker{q: f.q}
	return c.valid(s, v, 0) && !c.abort
}

// full reports whether the finder has found more than maxViolations
// violations (or failed): it looks no further then. With maxViolations
// found, it goes on only to find whether there are more (see find).
func (f *finder) full() bool { return f.cut || f.failed }

// library appends the library's violations of v (a tree of libTree or
// shallow) against s.
func (f *finder) library(s *jsonschema.Schema, v any, kw, ptr string) {
	err := s.Validate(v)
	if err == nil {
		return
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		f.failed = true
		return
	}
	f.out = appendViolations(f.out, ve, f.legacy, kw, ptr)
}

// shallow returns an object or array of the document as the library reads
// it, its members and items as they are: enough for a skeleton schema
// (quick.skel), which never reads them.
func shallow(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(*v))
		for _, mb := range *v {
			m[mb.name] = mb.value
		}
		return m
	case *array:
		return []any(*v)
	}
	return v
}

// libEscape escapes a reference token as the library writes it in a
// keyword location.
func libEscape(s string) string { return url.PathEscape(escapeToken(s)) }

// skeleton makes skel[s], a copy of s, the skeleton of s: its subschemas
// for members and items are pass, which accepts anything, and its "$ref"
// and "allOf" are the skeletons of those of s, so that the library checks
// only the keywords of an object or an array itself with it.
func skeleton(s, pass *jsonschema.Schema, skel map[*jsonschema.Schema]*jsonschema.Schema) {
	sk := skel[s]
	sk.Ref = skel[s.Ref]
	if len(s.AllOf) > 0 {
		sk.AllOf = make([]*jsonschema.Schema, len(s.AllOf))
		for i, a := range s.AllOf {
			sk.AllOf[i] = skel[a]
		}
	}
	if len(s.Properties) > 0 {
		sk.Properties = make(map[string]*jsonschema.Schema, len(s.Properties))
		for n := range s.Properties {
			sk.Properties[n] = pass
		}
	}
	if len(s.PatternProperties) > 0 {
		sk.PatternProperties = make(map[*regexp.Regexp]*jsonschema.Schema, len(s.PatternProperties))
		for re := range s.PatternProperties {
			sk.PatternProperties[re] = pass
		}
	}
	if _, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		sk.AdditionalProperties = pass
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		sk.Items = pass
	case []*jsonschema.Schema:
		sk.Items = passAll(len(items), pass)
	}
	if _, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		sk.AdditionalItems = pass
	}
	if len(s.PrefixItems) > 0 {
		sk.PrefixItems = passAll(len(s.PrefixItems), pass)
	}
	if s.Items2020 != nil {
		sk.Items2020 = pass
	}
}

// passAll returns n times pass.
func passAll(n int, pass *jsonschema.Schema) []*jsonschema.Schema {
	out := make([]*jsonschema.Schema, n)
	for i := range out {
		out[i] = pass
	}
	return out
}
