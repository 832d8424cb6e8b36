package httpserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// dtEnv is a server with Riak's datatype bucket types.
func dtEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, Options{})
	// Riak's 301 for the default type is checked, not followed.
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for name, dt := range map[string]string{"counters": "counter", "sets": "set", "maps": "map", "hlls": "hll", "gsets": "gset"} {
		if err := e.eng.CreateBucketType(name, kv.PropsUpdate{Datatype: kv.Ptr(dt)}); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.ActivateBucketType(name); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

const jsonCT = "Content-Type: application/json"

func decodeDT(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

func TestDatatypeCounter(t *testing.T) {
	t.Parallel()
	e := dtEnv(t)
	p := "/types/counters/buckets/b/datatypes/c"
	e.do("GET", p, "").expect(t, http.StatusNotFound)
	e.do("POST", p, `{"increment":5}`, jsonCT).expect(t, http.StatusNoContent)
	e.do("POST", p, `-2`, jsonCT).expect(t, http.StatusNoContent)
	r := e.do("POST", p+"?returnbody=true", `{"decrement":1}`, jsonCT).expect(t, http.StatusOK)
	if r.body != `{"type":"counter","value":2}` {
		t.Fatalf("returnbody %s", r.body)
	}
	if r := e.do("GET", p, "").expect(t, http.StatusOK); r.body != `{"type":"counter","value":2}` {
		t.Fatalf("fetch %s", r.body)
	}
	// A generated key: 201 with Location.
	r = e.do("POST", "/types/counters/buckets/b/datatypes", `1`, jsonCT).expect(t, http.StatusCreated)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/types/counters/buckets/b/datatypes/") {
		t.Fatalf("Location %q", loc)
	}
	if r := e.do("GET", loc, "").expect(t, http.StatusOK); r.body != `{"type":"counter","value":1}` {
		t.Fatalf("fetch generated %s", r.body)
	}
}

func TestDatatypeSetAndContext(t *testing.T) {
	t.Parallel()
	e := dtEnv(t)
	p := "/types/sets/buckets/b/datatypes/s"
	e.do("POST", p, `{"add_all":["a","b","c"]}`, jsonCT).expect(t, http.StatusNoContent)
	m := decodeDT(t, e.do("GET", p, "").expect(t, http.StatusOK).body)
	if m["type"] != "set" || len(m["value"].([]any)) != 3 || m["context"] == "" {
		t.Fatalf("fetch %v", m)
	}
	if _, ok := decodeDT(t, e.do("GET", p+"?include_context=false", "").body)["context"]; ok {
		t.Fatal("context despite include_context=false")
	}
	// Remove with the context seen.
	body, _ := json.Marshal(map[string]any{"remove": "a", "context": m["context"]})
	r := e.do("POST", p+"?returnbody=true", string(body), jsonCT).expect(t, http.StatusOK)
	if got := decodeDT(t, r.body)["value"]; len(got.([]any)) != 2 {
		t.Fatalf("after remove %v", got)
	}
	// Removing what is not there is Riak's precondition error.
	r = e.do("POST", p, `{"remove":"zz"}`, jsonCT).expect(t, http.StatusInternalServerError)
	if r.body != "Error:\n{precondition,{not_present,<<\"zz\">>}}\n" {
		t.Fatalf("precondition body %q", r.body)
	}
}

func TestDatatypeMapHLLGSet(t *testing.T) {
	t.Parallel()
	e := dtEnv(t)
	p := "/types/maps/buckets/b/datatypes/m"
	e.do("POST", p, `{"update":{"n_counter":3,"s_set":{"add":"x"},"r_register":"v","f_flag":"enable","inner_map":{"update":{"c_counter":{"increment":1}}}}}`, jsonCT).expect(t, http.StatusNoContent)
	m := decodeDT(t, e.do("GET", p, "").expect(t, http.StatusOK).body)
	v := m["value"].(map[string]any)
	if v["n_counter"] != 3.0 || v["r_register"] != "v" || v["f_flag"] != true || len(v["s_set"].([]any)) != 1 ||
		v["inner_map"].(map[string]any)["c_counter"] != 1.0 {
		t.Fatalf("map %v", v)
	}
	body, _ := json.Marshal(map[string]any{"remove": []string{"n_counter"}, "update": map[string]any{"f_flag": "disable"}, "context": m["context"]})
	v = decodeDT(t, e.do("POST", p+"?returnbody=true", string(body), jsonCT).expect(t, http.StatusOK).body)["value"].(map[string]any)
	if _, ok := v["n_counter"]; ok || v["f_flag"] != false {
		t.Fatalf("after remove %v", v)
	}
	e.do("POST", "/types/hlls/buckets/b/datatypes/h", `{"add_all":["a","b","a"]}`, jsonCT).expect(t, http.StatusNoContent)
	if r := e.do("GET", "/types/hlls/buckets/b/datatypes/h", "").expect(t, http.StatusOK); r.body != `{"type":"hll","value":2}` {
		t.Fatalf("hll %s", r.body)
	}
	e.do("POST", "/types/gsets/buckets/b/datatypes/g", `{"add":"q"}`, jsonCT).expect(t, http.StatusNoContent)
	if r := e.do("GET", "/types/gsets/buckets/b/datatypes/g", "").expect(t, http.StatusOK); r.body != `{"type":"gset","value":["q"]}` {
		t.Fatalf("gset %s", r.body)
	}
}

func TestDatatypeErrors(t *testing.T) {
	t.Parallel()
	e := dtEnv(t)
	cases := []struct {
		name, method, path, body, ct string
		status                       int
		want                         string
	}{
		{"not a datatype bucket", "GET", "/types/sibs/buckets/b/datatypes/k", "", "", 403, "Bucket datatype 'undefined' is not a supported type.\n"},
		{"unknown type", "GET", "/types/nope/buckets/b/datatypes/k", "", "", 404, "Unknown bucket type: nope\n"},
		{"default type", "GET", "/buckets/b/datatypes/k", "", "", 301, "Counters in the default bucket-type should use the legacy URL\n"},
		{"not json content type", "POST", "/types/counters/buckets/b/datatypes/k", "1", "Content-Type: text/plain", 406, ""},
		{"bad counter op", "POST", "/types/counters/buckets/b/datatypes/k", `{"increment":true}`, jsonCT, 400, "Invalid operation on datatype 'counter': {\"increment\":true}\n"},
		{"bad field name", "POST", "/types/maps/buckets/b/datatypes/k", `{"update":{"x_thing":1}}`, jsonCT, 400, "Invalid map field name 'x_thing'\n"},
		{"bad json", "POST", "/types/sets/buckets/b/datatypes/k", `{`, jsonCT, 400, "Couldn't decode JSON"},
		{"bad include_context", "GET", "/types/sets/buckets/b/datatypes/k?include_context=maybe", "", "", 400, "include_context query parameter must be true or false"},
		{"fetch without key", "GET", "/types/sets/buckets/b/datatypes", "", "", 404, `{"error":"notfound","type":"set"}`},
		{"method", "PUT", "/types/sets/buckets/b/datatypes/k", "", "", 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ct != "" {
				hdr = append(hdr, tc.ct)
			}
			r := e.do(tc.method, tc.path, tc.body, hdr...).expect(t, tc.status)
			if !strings.Contains(r.body, tc.want) {
				t.Fatalf("body %q, want %q", r.body, tc.want)
			}
		})
	}
}
