package registry

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// quick answers "is this document valid?" for the common schemas, on the
// tree fastDecode builds, without the library's per-value costs (a big.Rat
// for every number under "type": "integer" or a bound, a location string
// and a map of unevaluated names for every object and array).
//
// It reads the schema the library compiled and decides each keyword as the
// library does. Numbers are compared as int64 or float64 when that decides
// the question exactly (a float64 comparison is trusted only when it is
// strict: rounding is monotonic, so it cannot reverse an order, only make
// two values tie); ties, decimals under "multipleOf" and other cases that
// need exact arithmetic use big.Rat, as the library does.
//
// A "valid" from quick is final. Anything else, an invalid document or a
// case quick does not handle, goes to finder, which has the library list
// the violations of only the parts quick does not find valid; so error
// reports are the library's own.
type quick struct {
	nums map[*jsonschema.Schema]*numKeys
	// skel holds the skeleton of every schema of the graph (see
	// skeleton), for finder.
	skel map[*jsonschema.Schema]*jsonschema.Schema
}

// numKeys are a schema's numeric keywords, prepared for fast comparison.
type numKeys struct {
	min, exMin, max, exMax, multipleOf *bound
}

type bound struct {
	r    *big.Rat
	f    float64 // nearest float64 of r
	i    int64   // r, when isInt
	isIn bool    // r is an integer that fits int64
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	b := &bound{r: r}
	b.f, _ = r.Float64()
	if r.IsInt() && r.Num().IsInt64() {
		b.i, b.isIn = r.Num().Int64(), true
	}
	return b
}

// newQuick prepares quick for the schema graph under root, or returns nil
// when a reachable schema uses a keyword quick leaves to the library
// (dynamic references, unevaluated*, content*, extensions).
func newQuick(root *jsonschema.Schema) *quick {
	q := &quick{nums: map[*jsonschema.Schema]*numKeys{}}
	seen := map[*jsonschema.Schema]bool{}
	ok := true
	var walk func(s *jsonschema.Schema)
	walk = func(s *jsonschema.Schema) {
		if s == nil || seen[s] || !ok {
			return
		}
		seen[s] = true
		if s.RecursiveRef != nil || s.DynamicRef != nil || s.UnevaluatedProperties != nil ||
			s.UnevaluatedItems != nil || len(s.Extensions) > 0 || s.RegexProperties ||
			s.ContentEncoding != "" || s.ContentMediaType != "" || s.ContentSchema != nil {
			ok = false
			return
		}
		if s.Minimum != nil || s.ExclusiveMinimum != nil || s.Maximum != nil || s.ExclusiveMaximum != nil || s.MultipleOf != nil {
			q.nums[s] = &numKeys{min: newBound(s.Minimum), exMin: newBound(s.ExclusiveMinimum),
				max: newBound(s.Maximum), exMax: newBound(s.ExclusiveMaximum), multipleOf: newBound(s.MultipleOf)}
		}
		walk(s.Ref)
		walk(s.Not)
		for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf, s.PrefixItems} {
			for _, c := range l {
				walk(c)
			}
		}
		walk(s.If)
		walk(s.Then)
		walk(s.Else)
		for _, c := range s.Properties {
			walk(c)
		}
		walk(s.PropertyNames)
		for _, c := range s.PatternProperties {
			walk(c)
		}
		if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			walk(c)
		}
		for _, d := range s.Dependencies {
			if c, ok := d.(*jsonschema.Schema); ok {
				walk(c)
			}
		}
		for _, c := range s.DependentSchemas {
			walk(c)
		}
		switch items := s.Items.(type) {
		case *jsonschema.Schema:
			walk(items)
		case []*jsonschema.Schema:
			for _, c := range items {
				walk(c)
			}
		}
		if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			walk(c)
		}
		walk(s.Items2020)
		walk(s.Contains)
	}
	walk(root)
	if !ok {
		return nil
	}
	pass := true
	q.skel = make(map[*jsonschema.Schema]*jsonschema.Schema, len(seen))
	for s := range seen {
		sk := *s
		q.skel[s] = &sk
	}
	for s := range seen {
		skeleton(s, &jsonschema.Schema{Always: &pass}, q.skel)
	}
	return q
}

// valid reports whether v is valid against root; false means "invalid, or
// not decided here".
func (q *quick) valid(root *jsonschema.Schema, v any) bool {
	c := checker{q: q}
	return c.valid(root, v, 0) && !c.abort
}

type checker struct {
	q     *quick
	abort bool // a case quick does not decide: the library must
}

// maxInPlace bounds how many schemas apply to one value through $ref,
// allOf and the like before quick gives up (the library reports loops).
const maxInPlace = 200

// valid checks v against s; inPlace counts the schemas applied to this same
// value so far.
func (c *checker) valid(s *jsonschema.Schema, v any, inPlace int) bool {
	if c.abort {
		return false
	}
	if inPlace > maxInPlace {
		c.abort = true
		return false
	}
	if s.Always != nil {
		return *s.Always
	}
	if len(s.Types) > 0 && !c.typeOK(s.Types, v) {
		return false
	}
	if len(s.Constant) > 0 && !c.equal(v, s.Constant[0]) {
		return false
	}
	if len(s.Enum) > 0 {
		found := false
		for _, e := range s.Enum {
			if c.equal(v, e) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if s.Format != "" {
		if f := jsonschema.Formats[s.Format]; f != nil {
			switch v.(type) {
			case *object, *array, map[string]any, []any:
				// The library would pass a map; formats are about strings,
				// but leave any doubt to it.
				c.abort = true
				return false
			}
			if !f(v) {
				return false
			}
		}
	}
	switch v := v.(type) {
	case *object:
		if !c.object(s, *v, v, inPlace) {
			return false
		}
	case map[string]any: // a filled config (fillDefaults) or a schema value
		if !c.object(s, asObject(v), v, inPlace) {
			return false
		}
	case *array:
		if !c.array(s, *v) {
			return false
		}
	case []any:
		if !c.array(s, v) {
			return false
		}
	case string:
		if s.MinLength != -1 || s.MaxLength != -1 {
			n := utf8.RuneCountInString(v)
			if (s.MinLength != -1 && n < s.MinLength) || (s.MaxLength != -1 && n > s.MaxLength) {
				return false
			}
		}
		if s.Pattern != nil && !s.Pattern.MatchString(v) {
			return false
		}
	case int64, json.Number:
		if k := c.q.nums[s]; k != nil {
			if !c.number(k, v) {
				return false
			}
		} else if s.Minimum != nil || s.ExclusiveMinimum != nil || s.Maximum != nil || s.ExclusiveMaximum != nil || s.MultipleOf != nil {
			c.abort = true // not prepared by newQuick: cannot happen, but never guess
			return false
		}
	case nil, bool:
	default:
		c.abort = true
		return false
	}
	if s.Ref != nil && !c.valid(s.Ref, v, inPlace+1) {
		return false
	}
	if s.Not != nil && c.valid(s.Not, v, inPlace+1) {
		return false
	}
	for _, a := range s.AllOf {
		if !c.valid(a, v, inPlace+1) {
			return false
		}
	}
	if len(s.AnyOf) > 0 {
		found := false
		for _, a := range s.AnyOf {
			if c.valid(a, v, inPlace+1) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(s.OneOf) > 0 {
		n := 0
		for _, a := range s.OneOf {
			if c.valid(a, v, inPlace+1) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	if s.If != nil {
		if c.valid(s.If, v, inPlace+1) {
			if s.Then != nil && !c.valid(s.Then, v, inPlace+1) {
				return false
			}
		} else if s.Else != nil && !c.valid(s.Else, v, inPlace+1) {
			return false
		}
	}
	return !c.abort
}

func (c *checker) typeOK(types []string, v any) bool {
	var t string
	switch v.(type) {
	case nil:
		t = "null"
	case bool:
		t = "boolean"
	case int64, json.Number:
		t = "number"
	case string:
		t = "string"
	case *array, []any:
		t = "array"
	case *object, map[string]any:
		t = "object"
	default:
		c.abort = true
		return false
	}
	for _, want := range types {
		if want == t || (want == "integer" && t == "number" && c.isInteger(v)) {
			return true
		}
	}
	return false
}

// object checks object o, which is v (a *object or a map) for the
// schemas that apply to the whole value again.
func (c *checker) object(s *jsonschema.Schema, o object, v any, inPlace int) bool {
	if (s.MinProperties != -1 && len(o) < s.MinProperties) || (s.MaxProperties != -1 && len(o) > s.MaxProperties) {
		return false
	}
	has := func(name string) bool { _, ok := o.get(name); return ok }
	if len(o) > 32 && len(s.Required)+len(s.Dependencies)+len(s.DependentRequired)+len(s.DependentSchemas) > 0 {
		// Many members: look names up in a set, not member by member.
		names := make(map[string]struct{}, len(o))
		for _, m := range o {
			names[m.name] = struct{}{}
		}
		has = func(name string) bool { _, ok := names[name]; return ok }
	}
	for _, name := range s.Required {
		if !has(name) {
			return false
		}
	}
	if len(s.Properties) > 0 || len(s.PatternProperties) > 0 || s.AdditionalProperties != nil || s.PropertyNames != nil {
		var patterns map[*regexp.Regexp]*jsonschema.Schema
		if len(s.PatternProperties) > 0 {
			patterns = s.PatternProperties // else nil: ranging over it costs nothing
		}
		for _, m := range o {
			ps, known := s.Properties[m.name]
			if known && !c.valid(ps, m.value, 0) {
				return false
			}
			for re, ps := range patterns {
				if re.MatchString(m.name) {
					known = true
					if !c.valid(ps, m.value, 0) {
						return false
					}
				}
			}
			if !known && s.AdditionalProperties != nil {
				switch a := s.AdditionalProperties.(type) {
				case bool:
					if !a {
						return false
					}
				case *jsonschema.Schema:
					if !c.valid(a, m.value, 0) {
						return false
					}
				}
			}
			if s.PropertyNames != nil && !c.valid(s.PropertyNames, m.name, 0) {
				return false
			}
		}
	}
	if len(s.Dependencies)+len(s.DependentRequired)+len(s.DependentSchemas) == 0 {
		return true
	}
	for name, d := range s.Dependencies {
		if !has(name) {
			continue
		}
		switch d := d.(type) {
		case *jsonschema.Schema:
			if !c.valid(d, v, inPlace+1) {
				return false
			}
		case []string:
			for _, r := range d {
				if !has(r) {
					return false
				}
			}
		}
	}
	for name, rs := range s.DependentRequired {
		if !has(name) {
			continue
		}
		for _, r := range rs {
			if !has(r) {
				return false
			}
		}
	}
	for name, ds := range s.DependentSchemas {
		if has(name) && !c.valid(ds, v, inPlace+1) {
			return false
		}
	}
	return true
}

func (c *checker) array(s *jsonschema.Schema, v array) bool {
	if (s.MinItems != -1 && len(v) < s.MinItems) || (s.MaxItems != -1 && len(v) > s.MaxItems) {
		return false
	}
	if s.UniqueItems && !c.unique(v) {
		return false
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		for _, it := range v {
			if !c.valid(items, it, 0) {
				return false
			}
		}
	case []*jsonschema.Schema:
		for i, it := range v {
			if i < len(items) {
				if !c.valid(items[i], it, 0) {
					return false
				}
			} else if as, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
				if !c.valid(as, it, 0) {
					return false
				}
			} else {
				break
			}
		}
		if a, ok := s.AdditionalItems.(bool); ok && !a && len(v) > len(items) {
			return false
		}
	}
	for i, it := range v {
		var is *jsonschema.Schema
		switch {
		case i < len(s.PrefixItems):
			is = s.PrefixItems[i]
		case s.Items2020 != nil:
			is = s.Items2020
		}
		if is == nil {
			break
		}
		if !c.valid(is, it, 0) {
			return false
		}
	}
	if s.Contains != nil && (s.MinContains != -1 || s.MaxContains != -1) {
		n := 0
		for _, it := range v {
			if c.valid(s.Contains, it, 0) {
				n++
				if s.MaxContains == -1 && n >= s.MinContains {
					break // enough matches, and no upper limit
				}
			}
		}
		if (s.MinContains != -1 && n < s.MinContains) || (s.MaxContains != -1 && n > s.MaxContains) {
			return false
		}
	}
	return true
}

// unique reports whether no two items of v are equal. Short arrays are
// compared pairwise; long ones only when every item is a string, a boolean,
// null or an int64 (a hash set then decides); other long arrays are left
// to the library.
func (c *checker) unique(v array) bool {
	if len(v) <= 20 {
		for i := 1; i < len(v); i++ {
			for j := 0; j < i; j++ {
				if c.equal(v[i], v[j]) {
					return false
				}
			}
		}
		return true
	}
	seen := make(map[any]struct{}, len(v))
	for _, it := range v {
		switch it.(type) {
		case nil, bool, string, int64:
		default:
			c.abort = true
			return false
		}
		if _, dup := seen[it]; dup {
			return false
		}
		seen[it] = struct{}{}
	}
	return true
}

// equal is JSON equality, numbers compared by value (1, 1.0 and 1e0 are
// equal), as the library's.
func (c *checker) equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case int64, json.Number:
		switch b.(type) {
		case int64, json.Number:
			return c.numEqual(a, b)
		case float64, float32:
			c.abort = true
		}
		return false
	case *array, []any:
		al, bl := toArray(a), toArray(b)
		if bl == nil || len(al) != len(bl) {
			return false
		}
		for i := range al {
			if !c.equal(al[i], bl[i]) {
				return false
			}
		}
		return true
	case *object, map[string]any:
		ao, bo := toObject(a), toObject(b)
		if ao == nil || bo == nil || len(ao) != len(bo) {
			return false
		}
		for _, m := range ao {
			bv, ok := bo.get(m.name)
			if !ok || !c.equal(m.value, bv) {
				return false
			}
		}
		return true
	}
	c.abort = true
	return false
}

// toObject returns an object or a map as an object, anything else as nil.
func toObject(v any) object {
	switch v := v.(type) {
	case *object:
		return orEmpty(*v)
	case map[string]any:
		return asObject(v)
	}
	return nil
}

// toArray returns an array's items, anything else as nil.
func toArray(v any) array {
	switch v := v.(type) {
	case *array:
		return orEmpty(*v)
	case []any:
		return orEmpty(array(v))
	}
	return nil
}

// orEmpty returns s, or an empty non-nil slice for nil: a decoded empty
// object or array is present, unlike the nil "not one" of toObject/toArray.
func orEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

func (c *checker) numEqual(a, b any) bool {
	if ai, ok := a.(int64); ok {
		if bi, ok := b.(int64); ok {
			return ai == bi
		}
	}
	if an, ok := a.(json.Number); ok {
		if bn, ok := b.(json.Number); ok && an == bn {
			return true
		}
	}
	fa, okA := toFloat(a)
	fb, okB := toFloat(b)
	if okA && okB && fa != fb {
		return false
	}
	ra, rb := c.rat(a), c.rat(b)
	return ra != nil && rb != nil && ra.Cmp(rb) == 0
}

// number checks the numeric keywords k against v (an int64 or a
// json.Number).
func (c *checker) number(k *numKeys, v any) bool {
	n := c.num(v)
	if k.min != nil && n.cmp(k.min) < 0 {
		return false
	}
	if k.exMin != nil && n.cmp(k.exMin) <= 0 {
		return false
	}
	if k.max != nil && n.cmp(k.max) > 0 {
		return false
	}
	if k.exMax != nil && n.cmp(k.exMax) >= 0 {
		return false
	}
	if m := k.multipleOf; m != nil {
		if n.isInt && m.isIn {
			return n.i%m.i == 0
		}
		r := c.rat(v)
		if r == nil {
			return false
		}
		return new(big.Rat).Quo(r, m.r).IsInt()
	}
	return !c.abort
}

// num is a number read once for several comparisons.
type num struct {
	c     *checker
	v     any
	i     int64
	isInt bool // v is the int64 i
	f     float64
	fok   bool // f is v's nearest float64, finite
}

func (c *checker) num(v any) num {
	n := num{c: c, v: v}
	if i, ok := v.(int64); ok {
		n.i, n.isInt = i, true
	}
	n.f, n.fok = toFloat(v)
	return n
}

// cmp compares the number with b: int64s directly, else float64s when
// they differ, else exactly.
func (n *num) cmp(b *bound) int {
	if n.isInt && b.isIn {
		switch {
		case n.i < b.i:
			return -1
		case n.i > b.i:
			return 1
		}
		return 0
	}
	if n.fok && !math.IsInf(b.f, 0) {
		switch {
		case n.f < b.f:
			return -1
		case n.f > b.f:
			return 1
		}
	}
	r := n.c.rat(n.v)
	if r == nil {
		return 0 // abort is set; the value does not matter
	}
	return r.Cmp(b.r)
}

// toFloat returns the nearest float64 of an int64 or a json.Number, and
// false when it is infinite or v is neither.
func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case json.Number:
		if f, ok := exactFloat(string(v)); ok {
			return f, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactFloat converts a JSON number literal with at most 15 significant
// digits and a decimal exponent within ±22, the common case, faster than
// strconv: both the digits and the power of ten are exact float64s, so one
// multiplication or division rounds once, to the nearest float64, as
// ParseFloat would (Clinger's fast path). Other literals return false.
func exactFloat(s string) (float64, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	var m uint64
	sig, frac, exp := 0, 0, 0
	seenPoint := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			seenPoint = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if m != 0 || c != '0' {
			sig++
			if sig > 15 {
				return 0, false
			}
		}
		m = m*10 + uint64(c-'0')
		if seenPoint {
			frac++
		}
	}
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return 0, false
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' || exp > 1000 {
				return 0, false
			}
			exp = exp*10 + int(c-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	e := exp - frac
	f := float64(m)
	switch {
	case m == 0:
	case e >= 0 && e < len(pow10):
		f *= pow10[e]
	case e < 0 && -e < len(pow10):
		f /= pow10[-e]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// rat is v's exact value, read as the library reads it.
func (c *checker) rat(v any) *big.Rat {
	switch v := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(v)
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(v)); ok {
			return r
		}
	}
	c.abort = true
	return nil
}

// isInteger reports whether number v has no fractional part: 1, 1.0,
// 1.5e1 and 1e400 do; 1.5 and 1e-1 do not. A json.Number is read from its
// digits, without big.Rat unless its exponent is out of the ordinary.
func (c *checker) isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		_, isInt := v.(int64)
		return isInt
	}
	s := strings.TrimPrefix(string(n), "-")
	mant, exp := s, 0
	if e := strings.IndexAny(s, "eE"); e >= 0 {
		mant = s[:e]
		x, err := strconv.Atoi(s[e+1:])
		if err != nil || x > 1<<20 || x < -(1<<20) {
			r := c.rat(n)
			return r != nil && r.IsInt()
		}
		exp = x
	}
	frac := ""
	if d := strings.IndexByte(mant, '.'); d >= 0 {
		mant, frac = mant[:d], mant[d+1:]
	}
	digits := strings.TrimRight(mant+frac, "0")
	if strings.Trim(digits, "0") == "" {
		return true // zero
	}
	// The value is digits × 10^(exp − len(frac) + zeros trimmed).
	return exp-len(frac)+(len(mant)+len(frac)-len(digits)) >= 0
}
