package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/solvekit/solvekit"
	"github.com/solvekit/solvekit/internal/jsontree"
	"github.com/solvekit/solvekit/transport/api"
)

// schemaGen turns Go types into JSON Schemas (OpenAPI 3.1 / 2020-12),
// registering named structs as components.
type schemaGen struct {
	comps map[string]any
	names map[reflect.Type]string
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
	// problemType gets a description in the document.
	problemType = reflect.TypeOf(api.Problem{})
)

// ref returns the schema of t; request schemas take "required" from
// validate tags and refuse unknown fields, response schemas take it from
// the absence of omitempty.
func (g *schemaGen) schema(t reflect.Type, request bool) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem(), request)
	case reflect.Interface:
		return map[string]any{}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), request)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), request)}
	case reflect.Struct:
		return g.structRef(t, request)
	}
	return map[string]any{}
}

func (g *schemaGen) structRef(t reflect.Type, request bool) map[string]any {
	name, ok := g.names[t]
	if !ok {
		name = t.Name()
		if _, taken := g.comps[name]; taken || name == "" {
			pkg := t.PkgPath()
			pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
			name = strings.ToUpper(pkg[:1]) + pkg[1:] + t.Name()
		}
		g.names[t] = name
		g.comps[name] = map[string]any{} // placeholder against recursion
		props := map[string]any{}
		var required []string
		g.fields(t, request, props, &required)
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		if request {
			s["additionalProperties"] = false
		}
		if t == problemType {
			s["description"] = "RFC 9457 problem details"
		}
		g.comps[name] = s
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func (g *schemaGen) fields(t reflect.Type, request bool, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, et, skip := jsonField(f)
		if skip {
			continue
		}
		if et != nil {
			g.fields(et, request, props, required)
			continue
		}
		omitempty := strings.Contains(opts, "omitempty")
		s := g.schema(f.Type, request)
		if !request && !omitempty {
			switch f.Type.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
				if f.Type != rawType {
					s = nullable(s)
				}
			}
		}
		if request {
			if v := f.Tag.Get("validate"); v != "" {
				for _, rule := range strings.Split(v, ",") {
					if rule == "dive" {
						break
					}
					if rule == "required" {
						*required = append(*required, name)
					}
					if enum, ok := strings.CutPrefix(rule, "oneof="); ok {
						if _, isRef := s["$ref"]; !isRef {
							s["enum"] = strings.Fields(enum)
						}
					}
				}
			}
		} else if !omitempty {
			*required = append(*required, name)
		}
		props[name] = s
	}
}

func nullable(s map[string]any) map[string]any {
	if typ, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{typ, "null"}
		return out
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

var localRef = regexp.MustCompile(`^#`)

// embedSchema prepares a job type's JSON Schema for the components
// section: "#..." references are rebased onto the component and $id is
// dropped (the document is the base).
func embedSchema(raw json.RawMessage, comp string) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return map[string]any{}
	}
	var walk func(any) any
	walk = func(x any) any {
		t, ok := x.(map[string]any)
		if !ok {
			return jsontree.Copy(x, walk)
		}
		out := make(map[string]any, len(t))
		for k, v := range t {
			if k == "$id" || k == "id" && isString(v) && strings.Contains(v.(string), "://") {
				continue
			}
			if k == "$ref" {
				if s, ok := v.(string); ok && localRef.MatchString(s) {
					out[k] = "#/components/schemas/" + comp + strings.TrimPrefix(s, "#")
					continue
				}
			}
			out[k] = walk(v)
		}
		return out
	}
	v = walk(v)
	if _, ok := v.(map[string]any); !ok {
		if b, ok := v.(bool); ok && b {
			return map[string]any{}
		}
	}
	return v
}

func isString(v any) bool { _, ok := v.(string); return ok }

// document returns the OpenAPI 3.1 document of the routes h serves, with
// base (the path the routes hang under, see basePath) as its server.
func (h *handler) document(base string) map[string]any {
	g := &schemaGen{comps: map[string]any{}, names: map[reflect.Type]string{}}
	problem := g.schema(reflect.TypeOf(api.Problem{}), false)
	paths := map[string]any{}
	for _, rt := range h.routes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		op := map[string]any{"operationId": rt.op, "summary": rt.summary, "tags": []string{rt.tag}}
		desc := "Allowed roles: " + rt.access.String() + "."
		if rt.jobKey {
			desc += " The execution's job key also grants access."
		}
		if rt.access == accOpen {
			op["security"] = []any{}
			desc = "No credentials needed."
		}
		op["description"] = desc
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
					"schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc,
				"schema": map[string]any{"type": q.typ}})
		}
		for _, hd := range rt.headers {
			params = append(params, map[string]any{"name": hd.name, "in": "header", "description": hd.desc,
				"schema": map[string]any{"type": hd.typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != nil || rt.multipart {
			content := map[string]any{}
			if rt.body != nil {
				content["application/json"] = map[string]any{"schema": g.schema(reflect.TypeOf(rt.body), true)}
			}
			if rt.multipart {
				content["multipart/form-data"] = map[string]any{"schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"file":        map[string]any{"type": "string", "contentMediaType": "application/octet-stream"},
						"name":        map[string]any{"type": "string"},
						"description": map[string]any{"type": "string"},
						"job_type":    map[string]any{"type": "string"},
						"metadata":    map[string]any{"type": "string", "description": "a JSON object of strings"},
					},
				}}
			}
			rb := map[string]any{"content": content}
			if rt.path != "/executions/{id}/relaunch" && rt.path != "/instances/{id}/checks" {
				rb["required"] = true
			}
			op["requestBody"] = rb
		}
		ok := map[string]any{"description": http.StatusText(rt.status)}
		switch {
		case rt.status == http.StatusNoContent:
		case rt.kind == "sse":
			ok["content"] = map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.kind == "binary":
			ok["content"] = map[string]any{"*/*": map[string]any{"schema": map[string]any{}}}
		case rt.kind == "any-json":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}
		default:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.resp), false)}}
		}
		responses := map[string]any{
			itoa(rt.status): ok,
			"default": map[string]any{"description": "An unexpected error (RFC 9457 problem details)",
				"content": map[string]any{"application/problem+json": map[string]any{"schema": problem}}},
		}
		if rt.replay != 0 {
			again := maps.Clone(ok)
			again["description"] = http.StatusText(rt.replay) + ": a repeat of an earlier request (same Idempotency-Key), answered with what it created"
			responses[itoa(rt.replay)] = again
		}
		for _, st := range rt.errorStatuses() {
			responses[itoa(st)] = map[string]any{"description": errorDescriptions[st],
				"content": map[string]any{"application/problem+json": map[string]any{"schema": problem}}}
		}
		addOutageResponses(responses, rt, problem)
		op["responses"] = responses
		item[strings.ToLower(rt.method)] = op
	}
	for _, t := range h.svc.Registry().List() {
		for _, part := range []struct {
			name string
			raw  json.RawMessage
		}{{"instance", rawSchema(t.Instance)}, {"config", rawSchema(t.Config)}, {"solution", rawSchema(t.Solution)}} {
			comp := "jobType." + t.Name() + "." + part.name
			if string(part.raw) == "null" {
				g.comps[comp] = map[string]any{"description": "any JSON value"}
				continue
			}
			g.comps[comp] = embedSchema(part.raw, comp)
		}
	}
	doc := map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": map[string]any{
			"title":       "solvekit",
			"version":     solvekit.Version,
			"description": "Run registered solver jobs: submit executions, follow them, fetch solutions. Errors are RFC 9457 problem details. Job type schemas are under components.schemas as jobType.<name>.instance|config|solution.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.comps,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT, API key (sk_...) or job key (jk_...)"},
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"jobKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Job-Key"},
			},
		},
		"security": []any{map[string]any{"bearer": []string{}}, map[string]any{"apiKey": []string{}}, map[string]any{"jobKey": []string{}}},
		"tags": []any{
			map[string]any{"name": "service"}, map[string]any{"name": "auth"}, map[string]any{"name": "users"},
			map[string]any{"name": "jobTypes"}, map[string]any{"name": "instances"}, map[string]any{"name": "executions"},
			map[string]any{"name": "schedules"}, map[string]any{"name": "operations"},
			map[string]any{"name": "experiments", "description": "instance sets, and experiments comparing solvers and configs over them"},
			map[string]any{"name": "tags", "description": "pyfarm's tags API: labels on executions, instances and job types"},
		},
	}
	if base != "" {
		doc["servers"] = []any{map[string]any{"url": base}}
	}
	return doc
}

// errorDescriptions describe the error statuses of the document.
var errorDescriptions = map[int]string{
	http.StatusBadRequest:            "Malformed request: bad JSON or UTF-8, unknown fields, bad query parameters (errors[] points at them)",
	http.StatusUnauthorized:          "No or invalid credentials",
	http.StatusForbidden:             "The caller's role or credential may not do this",
	http.StatusNotFound:              "No such object, or one the caller may not see",
	http.StatusConflict:              "The object's state forbids it",
	http.StatusRequestEntityTooLarge: "The body (or an execution's files) is too large",
	http.StatusUnsupportedMediaType:  "Wrong Content-Type",
	http.StatusUnprocessableEntity:   "Validation failed (errors[] has a JSON pointer per violation)",
	http.StatusTooManyRequests:       "Too many failed logins (see Retry-After)",
	http.StatusServiceUnavailable:    "The job type is paused, or the service cannot reach Redis (see Retry-After)",
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	writeJSON(w, http.StatusOK, h.document(h.basePath(r)))
	return nil
}
