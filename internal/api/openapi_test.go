package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/problem"
)

// openAPIDoc holds the parts of the document the tests check.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Headers    map[string]json.RawMessage `json:"headers"`
		Parameters map[string]json.RawMessage `json:"parameters"`
		Responses  map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

// httpMethods are the keys of a path item that are operations; the others
// (parameters, summary, …) are not.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func parseOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	if !json.Valid(OpenAPIDocument) {
		t.Fatal("openapi.json is not valid JSON")
	}
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	return doc
}

// operations calls f for every operation of the document.
func (d openAPIDoc) operations(t *testing.T, f func(key string, op openAPIOperation)) {
	t.Helper()
	for path, item := range d.Paths {
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", strings.ToUpper(method), path, err)
			}
			f(strings.ToUpper(method)+" "+path, op)
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := parseOpenAPI(t)
	documented := map[string]bool{}
	doc.operations(t, func(key string, _ openAPIOperation) { documented[key] = true })
	served := map[string]bool{}
	for _, rt := range Routes() {
		served[rt.Method+" "+rt.Path] = true
	}
	for key := range served {
		if !documented[key] {
			t.Errorf("route %s is served but missing from openapi.json", key)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("openapi.json documents %s, which Routes() does not serve", key)
		}
	}
}

func TestOpenAPIOperations(t *testing.T) {
	doc := parseOpenAPI(t)
	ids := map[string]string{}
	doc.operations(t, func(key string, op openAPIOperation) {
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", key)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share operationId %q", key, other, op.OperationID)
		}
		ids[op.OperationID] = key
		if !slices.ContainsFunc(slices.Sorted(maps.Keys(op.Responses)), func(code string) bool { return strings.HasPrefix(code, "2") }) {
			t.Errorf("%s has no 2xx response", key)
		}
		if op.Security == nil {
			t.Errorf("%s states no security; use [] for none", key)
		}
	})
}

// TestOpenAPISecurity checks each operation names the key that
// authenticate actually demands for its route.
func TestOpenAPISecurity(t *testing.T) {
	doc := parseOpenAPI(t)
	for name, scheme := range doc.Components.SecuritySchemes {
		if scheme.Type != "http" || scheme.Scheme != "bearer" {
			t.Errorf("security scheme %s is %s/%s, want http/bearer", name, scheme.Type, scheme.Scheme)
		}
	}
	want := map[authKind]string{authNone: "", authApp: "applicationKey", authAdmin: "adminKey"}
	for _, rt := range Routes() {
		raw, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			continue // reported by TestOpenAPIMatchesRoutes
		}
		var op openAPIOperation
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		var got []string
		if op.Security != nil {
			for _, req := range *op.Security {
				got = append(got, slices.Sorted(maps.Keys(req))...)
			}
		}
		switch w := want[rt.auth]; {
		case w == "" && len(got) != 0:
			t.Errorf("%s %s needs no key but documents %v", rt.Method, rt.Path, got)
		case w != "" && !slices.Equal(got, []string{w}):
			t.Errorf("%s %s documents security %v, want [%s]", rt.Method, rt.Path, got, w)
		}
		if w := want[rt.auth]; w != "" {
			if _, ok := doc.Components.SecuritySchemes[w]; !ok {
				t.Errorf("security scheme %s is not defined in components", w)
			}
		}
	}
}

func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := parseOpenAPI(t)
	var root any
	if err := json.Unmarshal(OpenAPIDocument, &root); err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]json.RawMessage{
		"schemas":    doc.Components.Schemas,
		"headers":    doc.Components.Headers,
		"parameters": doc.Components.Parameters,
		"responses":  doc.Components.Responses,
	}
	var refs int
	walkRefs(root, func(ref string) {
		refs++
		rest, ok := strings.CutPrefix(ref, "#/components/")
		section, name, _ := strings.Cut(rest, "/")
		if !ok || sections[section][name] == nil {
			t.Errorf("$ref %q does not resolve within components", ref)
		}
	})
	if refs == 0 {
		t.Error("found no $ref at all; is the walk broken?")
	}
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "$ref" {
				f(s)
				continue
			}
			walkRefs(child, f)
		}
	case []any:
		for _, child := range v {
			walkRefs(child, f)
		}
	}
}

// TestOpenAPIErrorCodesExist catches a description naming a code that the
// catalogue no longer has.
func TestOpenAPIErrorCodesExist(t *testing.T) {
	known := map[string]bool{}
	for _, e := range problem.Catalogue() {
		known[e.Code] = true
	}
	doc := string(OpenAPIDocument)
	for i := 0; i+3 <= len(doc); i++ {
		code := doc[i : i+3]
		if code[0] != 'E' || !isDigit(code[1]) || !isDigit(code[2]) {
			continue
		}
		if i > 0 && isWordByte(doc[i-1]) || i+3 < len(doc) && isWordByte(doc[i+3]) {
			continue
		}
		if !known[code] {
			t.Errorf("openapi.json mentions %s, which is not in Catalogue", code)
		}
	}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isWordByte(b byte) bool {
	return isDigit(b) || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_'
}

func TestServeOpenAPI(t *testing.T) {
	mux := http.NewServeMux()
	(&API{Log: slog.New(slog.DiscardHandler)}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(body, OpenAPIDocument) {
		t.Errorf("served %d bytes that differ from the embedded document (%d bytes)", len(body), len(OpenAPIDocument))
	}
}
