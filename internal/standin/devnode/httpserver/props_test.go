package httpserver

import (
	"encoding/json"
	"net/http"
	"testing"
)

// props reads a props resource's {"props":{...}}.
func (e *env) props(path string) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodGet, path, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %q", path, r.status, r.body)
	}
	var out struct {
		Props map[string]any `json:"props"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.Props == nil {
		e.t.Fatalf("GET %s: %q: %v", path, r.body, err)
	}
	return out.Props
}

func TestBucketProps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ctJSON := "Content-Type: application/json"
	cases := []struct {
		name      string
		path      string // props resource
		typeAllow bool   // the type's allow_mult
	}{
		{"buckets", "/buckets/p/props", false},
		{"typed default", "/types/default/buckets/p2/props", false},
		{"typed", "/types/sibs/buckets/p/props", true},
		{"legacy", "/riak/p3", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.props(tc.path)
			if p["n_val"] != float64(3) || p["allow_mult"] != tc.typeAllow || p["r"] != "quorum" || p["name"] == nil {
				t.Fatalf("defaults %v", p)
			}
			e.do(http.MethodPut, tc.path, `{"props":{"n_val":2,"allow_mult":true,"r":1,"search_index":"x"}}`, ctJSON).
				expect(t, http.StatusNoContent)
			p = e.props(tc.path)
			if p["n_val"] != float64(2) || p["allow_mult"] != true || p["r"] != float64(1) || p["search_index"] != "x" {
				t.Fatalf("after PUT %v", p)
			}
			if tc.name == "legacy" {
				e.do(http.MethodDelete, tc.path, "").expect(t, http.StatusMethodNotAllowed)
				return
			}
			e.do(http.MethodDelete, tc.path, "").expect(t, http.StatusNoContent)
			if p = e.props(tc.path); p["n_val"] != float64(3) || p["allow_mult"] != tc.typeAllow {
				t.Fatalf("after reset %v", p)
			}
		})
	}

	bad := []struct {
		name, body, ctype string
		want              int
	}{
		{"not JSON", `{"props":`, "application/json", 400},
		{"no props object", `{"n_val":2}`, "application/json", 400},
		{"props not an object", `{"props":[1]}`, "application/json", 400},
		{"bad n_val", `{"props":{"n_val":"many"}}`, "application/json", 400},
		{"n_val zero", `{"props":{"n_val":0}}`, "application/json", 400},
		{"unsupported datatype", `{"props":{"datatype":"counter"}}`, "application/json", 400},
		{"not application/json", `{"props":{"n_val":2}}`, "text/plain", 415},
		{"no content type", `{"props":{"n_val":2}}`, "", 415},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			if tc.ctype != "" {
				hs = append(hs, "Content-Type: "+tc.ctype)
			}
			e.do(http.MethodPut, "/buckets/bad/props", tc.body, hs...).expect(t, tc.want)
		})
	}
	e.do(http.MethodGet, "/types/nope/buckets/b/props", "").expect(t, http.StatusNotFound)
	e.do(http.MethodPost, "/buckets/b/props", "{}", ctJSON).expect(t, http.StatusMethodNotAllowed)
}

func TestTypeProps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.props("/types/sibs/props")
	if p["allow_mult"] != true || p["n_val"] != float64(3) {
		t.Fatalf("type props %v", p)
	}
	e.do(http.MethodPut, "/types/sibs/props", `{"props":{"n_val":2,"last_write_wins":true}}`, "Content-Type: application/json").
		expect(t, http.StatusNoContent)
	if p = e.props("/types/sibs/props"); p["n_val"] != float64(2) || p["last_write_wins"] != true {
		t.Fatalf("after PUT %v", p)
	}
	// Buckets of the type inherit it.
	if p = e.props("/types/sibs/buckets/any/props"); p["n_val"] != float64(2) {
		t.Fatalf("bucket of the type %v", p)
	}
	if p = e.props("/types/default/props"); p["allow_mult"] != false {
		t.Fatalf("default type %v", p)
	}
	e.do(http.MethodGet, "/types/nope/props", "").expect(t, http.StatusNotFound)
	e.do(http.MethodPut, "/types/sibs/props", `nope`, "Content-Type: application/json").expect(t, http.StatusBadRequest)
	e.do(http.MethodDelete, "/types/sibs/props", "").expect(t, http.StatusMethodNotAllowed)
}
