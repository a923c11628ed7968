package registry

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// decodeTyped fills in, a pointer to a typed job's new input value, from
// tree, a document fastDecode parsed with no repeated member name, and
// reports whether it did so exactly as json.Unmarshal of the document
// would have. Submit then needs one parse of an instance for its schema
// and its typed decode, instead of two.
//
// It declines (false; in is then half filled and must be dropped) all
// that it does not mirror to the letter, and the caller decodes the bytes
// with encoding/json: types with their own unmarshalers, embedded
// structs, the ",string" option, []byte, json.Number and non-empty
// interfaces, map keys other than strings, a member name that matches a
// field only case-insensitively, and every value encoding/json would
// refuse (so that its error, with its offset, is encoding/json's).
func decodeTyped(tree, in any) bool {
	rv := reflect.ValueOf(in)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !plainType(rv.Type().Elem()) {
		return false
	}
	return decodeValue(tree, rv.Elem())
}

// decodeValue decodes v, a node of fastDecode's tree, into dst, whose
// type plainType accepted.
func decodeValue(v any, dst reflect.Value) bool {
	if v == nil { // null: as encoding/json, only these kinds change
		switch dst.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return true
	}
	switch dst.Kind() {
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		return decodeValue(v, dst.Elem())
	case reflect.Interface:
		x, ok := plainAny(v)
		if ok {
			dst.Set(reflect.ValueOf(x))
		}
		return ok
	case reflect.Struct:
		o, ok := v.(*object)
		if !ok {
			return false
		}
		p := structPlanOf(dst.Type())
		for _, m := range *o {
			i, ok := p.byName[m.name]
			if !ok {
				if p.folds(m.name) {
					return false
				}
				continue // encoding/json ignores unknown members
			}
			if !decodeValue(m.value, dst.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		o, ok := v.(*object)
		if !ok {
			return false
		}
		t := dst.Type()
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(t, len(*o)))
		}
		for _, m := range *o {
			e := reflect.New(t.Elem()).Elem()
			if !decodeValue(m.value, e) {
				return false
			}
			dst.SetMapIndex(reflect.ValueOf(m.name).Convert(t.Key()), e)
		}
		return true
	case reflect.Slice:
		a, ok := v.(*array)
		if !ok {
			return false
		}
		s := reflect.MakeSlice(dst.Type(), len(*a), len(*a))
		for i, x := range *a {
			if !decodeValue(x, s.Index(i)) {
				return false
			}
		}
		dst.Set(s)
		return true
	case reflect.Array:
		a, ok := v.(*array)
		if !ok {
			return false
		}
		for i := range dst.Len() {
			if i >= len(*a) {
				dst.Index(i).SetZero()
			} else if !decodeValue((*a)[i], dst.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		s, ok := v.(string)
		if ok {
			dst.SetString(s)
		}
		return ok
	case reflect.Bool:
		b, ok := v.(bool)
		if ok {
			dst.SetBool(b)
		}
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := integer(v, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
		if !ok || dst.OverflowInt(n) {
			return false
		}
		dst.SetInt(n)
		return true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := integer(v, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) })
		if !ok || dst.OverflowUint(n) {
			return false
		}
		dst.SetUint(n)
		return true
	case reflect.Float32, reflect.Float64:
		var lit string
		switch x := v.(type) {
		case int64:
			if dst.Kind() == reflect.Float64 {
				// Converting is rounding to nearest, as parsing the
				// integer's literal is.
				dst.SetFloat(float64(x))
				return true
			}
			lit = strconv.FormatInt(x, 10)
		case json.Number:
			lit = string(x)
		default:
			return false
		}
		f, err := strconv.ParseFloat(lit, dst.Type().Bits())
		if err != nil || dst.OverflowFloat(f) {
			return false
		}
		dst.SetFloat(f)
		return true
	}
	return false
}

// integer reads a number node as a T: an int64 node as it is (a negative
// one is no unsigned integer), a json.Number (an integer beyond int64, or
// a literal with a fraction or an exponent) as parse reads it, which
// refuses what is not an integer literal, as encoding/json does.
func integer[T int64 | uint64](v any, parse func(string) (T, error)) (T, bool) {
	switch x := v.(type) {
	case int64:
		if x < 0 && ^T(0) > 0 {
			return 0, false
		}
		return T(x), true
	case json.Number:
		n, err := parse(string(x))
		return n, err == nil
	}
	return 0, false
}

// plainAny converts a node to what encoding/json puts in an empty
// interface: map[string]any, []any, float64, string, bool or nil.
func plainAny(v any) (any, bool) {
	switch x := v.(type) {
	case *object:
		m := make(map[string]any, len(*x))
		for _, mb := range *x {
			e, ok := plainAny(mb.value)
			if !ok {
				return nil, false
			}
			m[mb.name] = e
		}
		return m, true
	case *array:
		a := make([]any, len(*x))
		for i, e := range *x {
			var ok bool
			if a[i], ok = plainAny(e); !ok {
				return nil, false
			}
		}
		return a, true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case string, bool, nil:
		return x, true
	}
	return nil, false
}

// structPlan is how the members of a JSON object land in a struct type
// that plainType accepted.
type structPlan struct {
	byName map[string]int      // exact JSON name -> field index
	folded map[string]struct{} // the names upper-cased (ASCII)
}

// folds reports whether name, which matches no field exactly, would match
// one the way encoding/json matches names, case-insensitively: the
// decoder then declines. A name that is not ASCII is taken to.
func (p *structPlan) folds(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true
		}
	}
	_, ok := p.folded[strings.ToUpper(name)]
	return ok
}

var (
	plans   sync.Map // reflect.Type -> *structPlan
	plainMu sync.Mutex
	plain   = map[reflect.Type]bool{}

	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumber      = reflect.TypeFor[json.Number]()
)

func structPlanOf(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{byName: map[string]int{}, folded: map[string]struct{}{}}
	for i := range t.NumField() {
		if name, ok := fieldName(t.Field(i)); ok {
			p.byName[name] = i
			p.folded[strings.ToUpper(name)] = struct{}{}
		}
	}
	plans.Store(t, p)
	return p
}

// fieldName is the JSON name of an exported struct field, as
// encoding/json names it; ok is false for a field it skips.
func fieldName(f reflect.StructField) (name string, ok bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ = strings.Cut(tag, ",")
	if !validTagName(name) {
		name = f.Name
	}
	return name, true
}

// validTagName is encoding/json's test of a tag's name, for the ASCII
// names plainType lets through.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c) >= 0) {
			return false
		}
	}
	return true
}

// plainType reports whether decodeValue handles every value of t exactly
// as encoding/json does (see decodeTyped for what it declines).
func plainType(t reflect.Type) bool {
	plainMu.Lock()
	defer plainMu.Unlock()
	return plainLocked(t)
}

func plainLocked(t reflect.Type) bool {
	if ok, seen := plain[t]; seen {
		return ok
	}
	plain[t] = true // a recursive type refers to itself: assume, then check
	ok := plainCheck(t)
	plain[t] = ok
	return ok
}

func plainCheck(t reflect.Type) bool {
	if t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	case reflect.String:
		return t != jsonNumber
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Pointer, reflect.Array:
		return plainLocked(t.Elem())
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8 && plainLocked(t.Elem()) // []byte is base64
	case reflect.Map:
		return t.Key().Kind() == reflect.String && plainLocked(t.Key()) && plainLocked(t.Elem())
	case reflect.Struct:
		names := map[string]bool{}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				return false
			}
			name, ok := fieldName(f)
			if !ok {
				continue
			}
			_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			for _, o := range strings.Split(opts, ",") {
				if o == "string" {
					return false
				}
			}
			up := strings.ToUpper(name)
			if names[up] || !plainLocked(f.Type) {
				return false
			}
			for j := 0; j < len(name); j++ {
				if name[j] >= utf8.RuneSelf {
					return false
				}
			}
			names[up] = true
		}
		return true
	}
	return false
}
