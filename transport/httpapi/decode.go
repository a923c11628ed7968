package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/solvekit/solvekit/job"
)

// Every JSON request body of the API goes through decodeBody (or
// decodeOptionalBody, or decodeJSONBytes for a JSON form field), which is
// stricter than encoding/json:
//
//   - the body must be valid UTF-8 and hold no unpaired UTF-16 surrogate
//     escape ("\ud800"), anywhere, free-form documents (instance data,
//     config, metadata values) included: encoding/json would keep such
//     bytes raw in a json.RawMessage (and store them) or quietly turn
//     them into U+FFFD in a string;
//   - field names match exactly: encoding/json matches them
//     case-insensitively ({"JOB_TYPE": ...} would fill job_type); a name
//     that is not a field of the request type, in any case, is refused,
//     and so is a field given twice. Keys inside free-form documents and
//     maps (instance data, metadata) are user data and are not checked;
//   - one JSON object, nothing after it; then validator/v10 tags.
//
// Malformed input is 400 (bad_request) with a JSON pointer where one
// applies; rule violations are 422.

// decodeBody reads a JSON request body strictly into v (see above).
func (h *handler) decodeBody(r *http.Request, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, v)
}

// decodeOptionalBody is decodeBody for routes whose body may be left out:
// an empty body leaves v as it is.
func (h *handler) decodeOptionalBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	return decodeJSONBytes(body, v)
}

func checkJSONContentType(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		mt = strings.TrimSpace(strings.ToLower(mt))
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return statusErr(http.StatusUnsupportedMediaType, "send application/json, not %s", mt)
		}
	}
	return nil
}

// decodeJSONBytes decodes body strictly into v (see above).
func decodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("request body is empty; send a JSON object")
	}
	if err := checkUnicode(body, "request body"); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("unexpected data after the JSON object")
	}
	// The body decoded, so it is one well-formed value: walk it once more
	// for the names encoding/json matches loosely or ignores (this walk
	// decides which names are known: DisallowUnknownFields would still
	// take "JOB_TYPE" for "job_type").
	if err := checkNames(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v), ""); err != nil {
		return err
	}
	return job.Validate(v)
}

// checkUnicode refuses text that is not valid UTF-8 and, since b may be
// JSON, unpaired UTF-16 surrogate escapes. what names b in the message.
func checkUnicode(b []byte, what string) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return badRequest("%s is not valid UTF-8 (byte %d)", what, i)
	}
	// In JSON a backslash only appears in strings, where it starts a
	// two-character escape or a \uXXXX one.
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if b[i+1] == 'u' {
			c, ok := hex4(b, i+2)
			switch {
			case !ok:
			case c >= 0xDC00 && c <= 0xDFFF:
				return badRequest("%s has an unpaired UTF-16 surrogate escape %s (byte %d)", what, b[i:i+6], i)
			case c >= 0xD800 && c <= 0xDBFF:
				lo, ok := uint16(0), false
				if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return badRequest("%s has an unpaired UTF-16 surrogate escape %s (byte %d)", what, b[i:i+6], i)
				}
				i += 6 // the low half is checked as part of this pair
			}
		}
		next := bytes.IndexByte(b[i+2:], '\\')
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return nil
}

func hex4(b []byte, at int) (uint16, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return uint16(n), err == nil
}

var (
	jsonUnmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// opaque reports whether values of t are not walked by checkNames:
// free-form documents, scalars and types that decode themselves.
func opaque(t reflect.Type) bool {
	if t == rawType || reflect.PointerTo(t).Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return false
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() == reflect.Uint8
	}
	return true
}

// checkNames reads one JSON value from dec, which v of type t decoded
// without error, and refuses object keys that are not exactly the JSON
// name of a field of the struct they fill, and keys given twice.
func checkNames(dec *json.Decoder, t reflect.Type, ptr string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if opaque(t) {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return badRequest("malformed JSON: %v", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // null
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		seen := map[string]bool{}
		if t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return badRequest("malformed JSON: %v", err)
			}
			key, _ := kt.(string)
			p := ptr + "/" + escapePointer(key)
			elem := reflect.TypeOf(json.RawMessage{})
			switch t.Kind() {
			case reflect.Map:
				elem = t.Elem()
			case reflect.Struct:
				ft, ok := fields[key]
				if !ok {
					return unknownField(key, p, fields)
				}
				if seen[key] {
					return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("field %q is given twice", key),
						Violations: []job.Violation{{Pointer: p, Keyword: "duplicate", Message: "given twice"}}}
				}
				seen[key] = true
				elem = ft
			}
			if err := checkNames(dec, elem, p); err != nil {
				return err
			}
		}
	case '[':
		elem := reflect.TypeOf(json.RawMessage{})
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkNames(dec, elem, ptr+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return badRequest("malformed JSON: %v", err)
	}
	return nil
}

func unknownField(key, ptr string, fields map[string]reflect.Type) error {
	msg := fmt.Sprintf("unknown field %q", key)
	vmsg := "unknown field"
	for name := range fields {
		if strings.EqualFold(name, key) {
			msg += fmt.Sprintf(" (field names are case-sensitive: did you mean %q?)", name)
			vmsg = fmt.Sprintf("unknown field; did you mean %q?", name)
			break
		}
	}
	return &job.Error{Code: job.CodeBadRequest, Message: msg,
		Violations: []job.Violation{{Pointer: ptr, Keyword: "additionalProperties", Message: vmsg}}}
}

// escapePointer escapes one RFC 6901 reference token.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of struct type t's fields (embedded
// structs' fields promoted, the outer name winning) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, et, skip := jsonField(f)
		switch {
		case skip:
		case et != nil:
			embedded = append(embedded, et)
		default:
			out[name] = f.Type
		}
	}
	for _, et := range embedded {
		for name, ft := range jsonFields(et) {
			if _, taken := out[name]; !taken {
				out[name] = ft
			}
		}
	}
	fieldCache.Store(t, out)
	return out
}

// jsonField reads struct field f as encoding/json does: its JSON name and
// tag options or, for an untagged embedded struct (or pointer to one), the
// struct whose fields it promotes; skip is true for a field JSON leaves
// out (json:"-", or unexported).
func jsonField(f reflect.StructField) (name, opts string, embedded reflect.Type, skip bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", "", nil, true
	}
	name, opts, _ = strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			return "", "", ft, false
		}
	}
	if !f.IsExported() {
		return "", "", nil, true
	}
	if name == "" {
		name = f.Name
	}
	return name, opts, nil, false
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		ptr := "/" + strings.ReplaceAll(te.Field, ".", "/")
		if te.Field == "" {
			ptr = ""
		}
		return &job.Error{Code: job.CodeBadRequest, Message: fmt.Sprintf("wrong type at %s: got %s, want %s", orRoot(ptr), te.Value, jsonKind(te.Type.Kind().String())),
			Violations: []job.Violation{{Pointer: ptr, Keyword: "type", Message: fmt.Sprintf("got %s, want %s", te.Value, jsonKind(te.Type.Kind().String()))}}}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed JSON: unexpected end of input")
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "integer"
	case strings.HasPrefix(k, "float"):
		return "number"
	case k == "map", k == "struct":
		return "object"
	case k == "slice", k == "array":
		return "array"
	}
	return k
}
