package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/validate"
)

func TestCheckJSONTextNamesEachField(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"usable", `{"a":"x","b":{"c":["é","\u00e9"]},"d":1,"e":null}`, nil},
		{"escaped NUL", `{"login_id":"a\u0000b"}`, []string{"login_id"}},
		{"invalid UTF-8", "{\"device_label\":\"a\xffb\"}", []string{"device_label"}},
		{"nested", `{"help_desk":{"name":"ok","email":"\u0000"},"x":"\u0000"}`, []string{"help_desk.email", "x"}},
		{"after a nested object", `{"a":{"b":1},"c":"\u0000"}`, []string{"c"}},
		{"array named by its key, once", `{"groups":["ok","\u0000","\u0000"]}`, []string{"groups"}},
		{"array of objects", `{"items":[{"v":"ok"},{"v":"\u0000"}]}`, []string{"items.v"}},
		{"bad key", `{"a\u0000":"x"}`, []string{"body"}},
		{"top-level string", `"\u0000"`, []string{"body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := checkJSONText([]byte(tc.body)); err != nil {
				errs, ok := err.(validate.Errors)
				if !ok {
					t.Fatalf("err = %T %v", err, err)
				}
				for _, e := range errs {
					if e.Code != "unusable_chars" {
						t.Errorf("code %q", e.Code)
					}
					got = append(got, e.Field)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fields = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckInputPathAndQuery(t *testing.T) {
	rt := Route{Method: "GET", Path: "/api/v1/admin/users/{id}"}
	for _, tc := range []struct {
		name, target string
		want         string // "", "not_found" or a field
	}{
		{"login ID", "/api/v1/admin/users/alice?x=%C3%A9", ""},
		{"NUL in the id", "/api/v1/admin/users/a%00b", "not_found"},
		{"invalid UTF-8 in the id", "/api/v1/admin/users/a%FFb", "not_found"},
		{"control character in the id", "/api/v1/admin/users/a%0Ab", "not_found"},
		{"NUL in a query value", "/api/v1/admin/users/alice?after=a%00b", "after"},
		{"invalid UTF-8 in a query value", "/api/v1/admin/users/alice?after=%FF", "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			mux := http.NewServeMux()
			mux.HandleFunc(rt.Method+" "+rt.Path, func(_ http.ResponseWriter, r *http.Request) { err = checkInput(r, rt) })
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.target, nil))
			switch tc.want {
			case "":
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case "not_found":
				if err == nil || problem.From(err, problem.Context{}).Code != "E15" {
					t.Errorf("err = %v, want E15", err)
				}
			default:
				errs, ok := err.(validate.Errors)
				if !ok || len(errs) != 1 || errs[0].Field != tc.want {
					t.Errorf("err = %v, want a field error on %s", err, tc.want)
				}
			}
		})
	}
}
