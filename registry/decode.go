package registry

import (
	"encoding/json"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit; a deeper document is left to
// decodeJSON, which reports it.
const maxDepth = 10000

// fastDecode parses a JSON document into the tree the validator reads:
// *object, *array, string, bool, nil, and numbers as int64 (an
// integer literal that fits, "-0" excepted) or json.Number (every other
// literal, kept exact as written). Strings and numbers are slices of one
// copy of the document, so they cost no allocation of their own, and maps
// and slices are made at their final size.
//
// It accepts exactly the documents encoding/json accepts and yields the
// same values (int64 where json.Number would hold the same integer). On any
// doubt (malformed JSON, nesting deeper than encoding/json allows) it
// returns ok == false and the caller decodes with decodeJSON, whose errors
// name the line and column.
func fastDecode(b []byte) (v any, ok bool) {
	v, _, ok = fastDecodeDup(b)
	return v, ok
}

// fastDecodeDup is fastDecode that also reports whether an object of the
// document repeats a member name (the tree keeps the last value, where
// encoding/json decoding into a struct would merge the two).
func fastDecodeDup(b []byte) (v any, dup, ok bool) {
	p := parser{s: string(b)}
	p.skipSpace()
	v, ok = p.value(0)
	if !ok {
		return nil, false, false
	}
	p.skipSpace()
	return v, p.dup, p.i == len(p.s)
}

type parser struct {
	s    string
	i    int
	vals []any    // items and member values being collected, all levels
	keys []string // member names being collected, all levels
	// index finds the members of a large object by name while it is
	// built (an object's members are all added before the next starts).
	index map[string]int
	// dup is set when an object repeats a member name.
	dup bool

	// Slabs the tree is carved from, so that small objects and arrays
	// cost no allocation of their own: members, items, and the headers
	// the tree points to (a pointer goes into an interface for free, a
	// slice header does not).
	members []member
	items   []any
	objs    []object
	arrs    []array
}

const slabLen = 1024

func (p *parser) newMembers(n int) []member {
	if n > slabLen/4 {
		return make([]member, 0, n)
	}
	if len(p.members) < n {
		p.members = make([]member, slabLen)
	}
	m := p.members[:0:n]
	p.members = p.members[n:]
	return m
}

func (p *parser) newItems(n int) []any {
	if n > slabLen/4 {
		return make([]any, n)
	}
	if len(p.items) < n {
		p.items = make([]any, slabLen)
	}
	a := p.items[:n:n]
	p.items = p.items[n:]
	return a
}

func (p *parser) newObject(o object) *object {
	if len(p.objs) == 0 {
		p.objs = make([]object, slabLen/4)
	}
	h := &p.objs[0]
	*h = o
	p.objs = p.objs[1:]
	return h
}

func (p *parser) newArray(a []any) *array {
	if len(p.arrs) == 0 {
		p.arrs = make([]array, slabLen/4)
	}
	h := &p.arrs[0]
	*h = a
	p.arrs = p.arrs[1:]
	return h
}

// array is a decoded JSON array; the tree holds it as *array.
type array []any

// object is a decoded JSON object: its members in document order, each
// name once; the tree holds it as *object. It costs less than a map to
// build, and the validator reads members one after the other anyway; the
// library gets maps (libTree).
type object []member

type member struct {
	name  string
	value any
}

// get returns the value of member name.
func (o object) get(name string) (any, bool) {
	for i := range o {
		if o[i].name == name {
			return o[i].value, true
		}
	}
	return nil, false
}

// libTree turns a tree of fastDecode into the one the library and
// fillDefaults read: objects become maps (arrays are changed in place).
func libTree(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(*v))
		for _, mb := range *v {
			m[mb.name] = libTree(mb.value)
		}
		return m
	case *array:
		a := []any(*v)
		for i, x := range a {
			a[i] = libTree(x)
		}
		return a
	case []any:
		for i, x := range v {
			v[i] = libTree(x)
		}
	}
	return v
}

// asObject returns a map of a decoded document (fillDefaults', schema
// values) as an object.
func asObject(m map[string]any) object {
	o := make(object, 0, len(m))
	for k, v := range m {
		o = append(o, member{k, v})
	}
	return o
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, bool) {
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		return s, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *parser) literal(lit string) bool {
	if len(p.s)-p.i < len(lit) || p.s[p.i:p.i+len(lit)] != lit {
		return false
	}
	p.i += len(lit)
	return true
}

func (p *parser) object(depth int) (any, bool) {
	base, empty, ok := p.open(depth, '}')
	if !ok || empty {
		return p.newObject(object{}), ok // the value is dropped when !ok
	}
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.skipSpace()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.keys = append(p.keys, k)
		p.vals = append(p.vals, v)
		if more, ok := p.next('}'); !ok {
			return nil, false
		} else if !more {
			break
		}
	}
	n := len(p.vals) - base
	keys := p.keys[len(p.keys)-n:]
	o := object(p.newMembers(n))
	for j, v := range p.vals[base:] {
		o = p.addMember(o, keys[j], v)
	}
	clear(p.vals[base:])
	p.vals = p.vals[:base]
	p.keys = p.keys[:len(p.keys)-n]
	return p.newObject(o), true
}

// open reads the opening bracket of an object or an array at the given
// depth and, when closing follows at once, that too (empty). base is where
// its members or items start on the stacks.
func (p *parser) open(depth int, closing byte) (base int, empty, ok bool) {
	if depth > maxDepth {
		return 0, false, false
	}
	p.i++
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == closing {
		p.i++
		return 0, true, true
	}
	return len(p.vals), false, true
}

// next reads what follows a member or an item: a comma (more == true,
// white space after it skipped) or the closing bracket.
func (p *parser) next(closing byte) (more, ok bool) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return false, false
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		p.skipSpace()
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

// addMember appends a member to o; a repeated name keeps its first place
// and its last value, as a map filled by encoding/json would.
func (p *parser) addMember(o object, name string, v any) object {
	if len(o) < 16 {
		for j := range o {
			if o[j].name == name {
				o[j].value = v
				p.dup = true
				return o
			}
		}
		return append(o, member{name, v})
	}
	if len(o) == 16 {
		p.index = make(map[string]int, 32)
		for j, m := range o {
			p.index[m.name] = j
		}
	}
	if j, dup := p.index[name]; dup {
		o[j].value = v
		p.dup = true
		return o
	}
	p.index[name] = len(o)
	return append(o, member{name, v})
}

func (p *parser) array(depth int) (any, bool) {
	base, empty, ok := p.open(depth, ']')
	if !ok || empty {
		return p.newArray(array{}), ok // the value is dropped when !ok
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.vals = append(p.vals, v)
		if more, ok := p.next(']'); !ok {
			return nil, false
		} else if !more {
			break
		}
	}
	a := p.newItems(len(p.vals) - base)
	copy(a, p.vals[base:])
	clear(p.vals[base:])
	p.vals = p.vals[:base]
	return p.newArray(a), true
}

// str reads a string token. Plain ones (no escapes, valid UTF-8) are
// slices of the document; the others are unquoted by encoding/json itself,
// so that escapes, surrogates and invalid bytes come out as it makes them.
func (p *parser) str() (string, bool) {
	start := p.i + 1
	plain := true
	ascii := true
	j := start
	for ; j < len(p.s); j++ {
		c := p.s[j]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		if c == '\\' {
			plain = false
			j++ // skip the escaped byte (a quote or a backslash included)
			continue
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if j >= len(p.s) {
		return "", false
	}
	p.i = j + 1
	s := p.s[start:j]
	if plain && (ascii || utf8.ValidString(s)) {
		return s, true
	}
	var out string
	if err := json.Unmarshal([]byte(p.s[start-1:j+1]), &out); err != nil {
		return "", false
	}
	return out, true
}

// digits returns the index past the decimal digits that start at j, or -1
// when there is none.
func (p *parser) digits(j int) int {
	d := j
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == d {
		return -1
	}
	return j
}

// number reads a number token as the JSON grammar has it: int64 when it is
// a plain integer that fits, else json.Number.
func (p *parser) number() (any, bool) {
	start := p.i
	j := p.i
	neg := false
	if p.s[j] == '-' {
		neg = true
		j++
	}
	if j >= len(p.s) {
		return nil, false
	}
	intStart := j
	switch c := p.s[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j = p.digits(j)
	default:
		return nil, false
	}
	intEnd := j
	simple := true
	// A fraction and an exponent each need at least one digit.
	if j < len(p.s) && p.s[j] == '.' {
		simple = false
		if j = p.digits(j + 1); j == -1 {
			return nil, false
		}
	}
	if j < len(p.s) && (p.s[j] == 'e' || p.s[j] == 'E') {
		simple = false
		j++
		if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
			j++
		}
		if j = p.digits(j); j == -1 {
			return nil, false
		}
	}
	p.i = j
	// 18 digits always fit in an int64; "-0" stays as written.
	if simple && intEnd-intStart <= 18 && !(neg && p.s[intStart] == '0') {
		var n int64
		for k := intStart; k < intEnd; k++ {
			n = n*10 + int64(p.s[k]-'0')
		}
		if neg {
			n = -n
		}
		return n, true
	}
	return json.Number(p.s[start:j]), true
}
