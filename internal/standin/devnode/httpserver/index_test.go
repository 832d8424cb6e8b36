package httpserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// indexResponse is a non-streamed 2i answer.
type indexResponse struct {
	Keys         []string            `json:"keys"`
	Results      []map[string]string `json:"results"`
	Continuation string              `json:"continuation"`
}

func setupIndex(e *env, base string) {
	e.t.Helper()
	for _, o := range []struct{ key, age, email string }{
		{"k1", "10", "a@x"}, {"k2", "20", "b@x"}, {"k3", "30", "c@x"}, {"k4", "20", "b2@x"},
	} {
		e.put(base+"/keys/"+o.key, "v", "X-Riak-Index-Age_int: "+o.age, "X-Riak-Index-Email_bin: "+o.email)
	}
}

func TestIndexQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	setupIndex(e, "/types/sibs/buckets/ix")
	setupIndex(e, "/buckets/ix")
	cases := []struct {
		name, path string
		keys       []string
		results    []map[string]string
		cont       bool
	}{
		{"exact int", "/types/sibs/buckets/ix/index/age_int/20", []string{"k2", "k4"}, nil, false},
		{"exact int not canonical", "/types/sibs/buckets/ix/index/age_int/+020", []string{"k2", "k4"}, nil, false},
		{"range int", "/types/sibs/buckets/ix/index/age_int/10/20", []string{"k1", "k2", "k4"}, nil, false},
		{"exact bin", "/types/sibs/buckets/ix/index/email_bin/b@x", []string{"k2"}, nil, false},
		{"range bin terms", "/types/sibs/buckets/ix/index/email_bin/a/b@y?return_terms=true", nil,
			[]map[string]string{{"a@x": "k1"}, {"b2@x": "k4"}, {"b@x": "k2"}}, false},
		{"range int terms", "/types/sibs/buckets/ix/index/age_int/20/30?return_terms=true", nil,
			[]map[string]string{{"20": "k2"}, {"20": "k4"}, {"30": "k3"}}, false},
		{"exact ignores return_terms", "/types/sibs/buckets/ix/index/age_int/30?return_terms=true", []string{"k3"}, nil, false},
		{"$bucket", "/types/sibs/buckets/ix/index/$bucket/ix", []string{"k1", "k2", "k3", "k4"}, nil, false},
		{"$key range", "/types/sibs/buckets/ix/index/$key/k2/k3", []string{"k2", "k3"}, nil, false},
		{"$key exact", "/types/sibs/buckets/ix/index/$key/k4", []string{"k4"}, nil, false},
		{"term_regex", "/types/sibs/buckets/ix/index/email_bin/a/z?term_regex=%5Eb", []string{"k4", "k2"}, nil, false},
		{"legacy default type", "/buckets/ix/index/age_int/30", []string{"k3"}, nil, false},
		{"no match", "/buckets/ix/index/age_int/99", []string{}, nil, false},
		{"page", "/buckets/ix/index/age_int/0/100?max_results=2", []string{"k1", "k2"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, "").expect(t, http.StatusOK)
			var got indexResponse
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("%q: %v", r.body, err)
			}
			if tc.results != nil {
				if !slices.EqualFunc(got.Results, tc.results, func(a, b map[string]string) bool { return len(a) == 1 && len(b) == 1 && equalMap(a, b) }) {
					t.Errorf("results %v, want %v", got.Results, tc.results)
				}
			} else if !slices.Equal(got.Keys, tc.keys) {
				t.Errorf("keys %q, want %q (body %s)", got.Keys, tc.keys, r.body)
			}
			if (got.Continuation != "") != tc.cont {
				t.Errorf("continuation %q", got.Continuation)
			}
		})
	}
}

func equalMap(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestIndexPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	setupIndex(e, "/buckets/pg")
	var all []string
	cont := ""
	for page := 0; ; page++ {
		path := "/buckets/pg/index/age_int/0/100?max_results=1&return_terms=true"
		if cont != "" {
			path += "&continuation=" + cont
		}
		var got indexResponse
		r := e.do(http.MethodGet, path, "").expect(t, http.StatusOK)
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		for _, m := range got.Results {
			for _, k := range m {
				all = append(all, k)
			}
		}
		if got.Continuation == "" {
			break
		}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		cont = got.Continuation
	}
	if want := []string{"k1", "k2", "k4", "k3"}; !slices.Equal(all, want) {
		t.Errorf("pages %q, want %q", all, want)
	}
}

func TestIndexStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	setupIndex(e, "/buckets/st")
	cases := []struct {
		name, query string
		keys        []string
		cont        bool
	}{
		{"all", "", []string{"k1", "k2", "k4", "k3"}, false},
		{"paged", "&max_results=3", []string{"k1", "k2", "k4"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/buckets/st/index/age_int/0/100?stream=true"+tc.query, "").expect(t, http.StatusOK)
			var keys []string
			cont := ""
			for _, p := range parseMultipart(t, r) {
				if ct := http.Header(p.header).Get("Content-Type"); ct != "application/json" {
					t.Errorf("part Content-Type %q", ct)
				}
				var got indexResponse
				if err := json.Unmarshal([]byte(p.body), &got); err != nil {
					t.Fatalf("part %q: %v", p.body, err)
				}
				keys = append(keys, got.Keys...)
				if got.Continuation != "" {
					cont = got.Continuation
				}
			}
			if !slices.Equal(keys, tc.keys) || (cont != "") != tc.cont {
				t.Errorf("keys %q continuation %q", keys, cont)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		r := e.do(http.MethodGet, "/buckets/st/index/age_int/500?stream=true", "").expect(t, http.StatusOK)
		if parts := parseMultipart(t, r); len(parts) != 0 {
			t.Errorf("parts %v", parts)
		}
	})
}

func TestIndexErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	setupIndex(e, "/buckets/ie")
	cases := []struct {
		name, path string
		want       int
	}{
		{"int term not a number", "/buckets/ie/index/age_int/abc", 400},
		{"int range not a number", "/buckets/ie/index/age_int/1/z", 400},
		{"unknown index kind", "/buckets/ie/index/age/1", 400},
		{"max_results zero", "/buckets/ie/index/age_int/1?max_results=0", 400},
		{"max_results word", "/buckets/ie/index/age_int/1?max_results=ten", 400},
		{"return_terms not boolean", "/buckets/ie/index/age_int/1/2?return_terms=maybe", 400},
		{"stream not boolean", "/buckets/ie/index/age_int/1/2?stream=maybe", 400},
		{"pagination_sort not boolean", "/buckets/ie/index/age_int/1/2?pagination_sort=x", 400},
		{"bad continuation", "/buckets/ie/index/age_int/1/2?continuation=garbage", 400},
		{"regex on int", "/buckets/ie/index/age_int/1/2?term_regex=1", 400},
		{"bad regex", "/buckets/ie/index/email_bin/a/z?term_regex=%28", 400},
		{"unknown type", "/types/nope/buckets/ie/index/age_int/1", 404},
		{"bad timeout", "/buckets/ie/index/age_int/1?timeout=x", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.do(http.MethodGet, tc.path, "").expect(t, tc.want)
		})
	}
	e.do(http.MethodPut, "/buckets/ie/index/age_int/1", "").expect(t, http.StatusMethodNotAllowed)
}
