package httpserver

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// decodeStream reads a chunked sequence of JSON objects.
func decodeStream(t testing.TB, body string) []map[string]json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	var out []map[string]json.RawMessage
	for {
		var m map[string]json.RawMessage
		err := dec.Decode(&m)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream %q: %v", body, err)
		}
		out = append(out, m)
	}
}

func jsonStrings(t testing.TB, raw json.RawMessage) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return out
}

func TestListKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, k := range []string{"k1", "k2", "k/3"} {
		e.put("/buckets/lk/keys/"+strings.ReplaceAll(k, "/", "%2F"), "v")
	}
	e.put("/types/sibs/buckets/lk/keys/typed", "v")
	want := []string{"k/3", "k1", "k2"}

	cases := []struct {
		name, path string
		stream     bool
		props      bool
		want       []string
	}{
		{"buckets true", "/buckets/lk/keys?keys=true", false, false, want},
		{"typed default", "/types/default/buckets/lk/keys?keys=true", false, false, want},
		{"typed", "/types/sibs/buckets/lk/keys?keys=true", false, false, []string{"typed"}},
		{"empty bucket", "/buckets/none/keys?keys=true", false, false, []string{}},
		{"legacy with props", "/riak/lk?keys=true", false, true, want},
		{"legacy without props", "/riak/lk?keys=true&props=false", false, false, want},
		{"stream", "/buckets/lk/keys?keys=stream", true, false, want},
		{"legacy stream", "/riak/lk?keys=stream", true, true, want},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, "").expect(t, http.StatusOK)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			objs := decodeStream(t, r.body)
			if !tc.stream && len(objs) != 1 {
				t.Fatalf("%d objects, want 1: %q", len(objs), r.body)
			}
			got := []string{}
			hasProps := false
			for i, o := range objs {
				if _, ok := o["props"]; ok {
					hasProps = true
				}
				if ks, ok := o["keys"]; ok {
					batch := jsonStrings(t, ks)
					got = append(got, batch...)
					if tc.stream && i == len(objs)-1 && len(batch) != 0 {
						t.Errorf("stream does not end with an empty batch")
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys %q, want %q", got, tc.want)
			}
			if hasProps != tc.props {
				t.Errorf("props present %v, want %v", hasProps, tc.props)
			}
		})
	}

	t.Run("legacy props only", func(t *testing.T) {
		r := e.do(http.MethodGet, "/riak/lk", "").expect(t, http.StatusOK)
		if !strings.Contains(r.body, `"props"`) || strings.Contains(r.body, `"keys"`) {
			t.Errorf("body %q", r.body)
		}
	})
	for _, path := range []string{"/buckets/lk/keys", "/buckets/lk/keys?keys=false", "/types/sibs/buckets/lk/keys?keys=yes"} {
		t.Run("missing param "+path, func(t *testing.T) {
			e.do(http.MethodGet, path, "").expect(t, http.StatusBadRequest)
		})
	}
	t.Run("unknown type", func(t *testing.T) {
		e.do(http.MethodGet, "/types/nope/buckets/lk/keys?keys=true", "").expect(t, http.StatusNotFound)
	})
}

func TestListBuckets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.put("/buckets/b1/keys/k", "v")
	e.put("/buckets/b2/keys/k", "v")
	e.put("/types/sibs/buckets/t1/keys/k", "v")
	cases := []struct {
		name, path string
		want       []string
	}{
		{"default", "/buckets?buckets=true", []string{"b1", "b2"}},
		{"typed default", "/types/default/buckets?buckets=true", []string{"b1", "b2"}},
		{"typed", "/types/sibs/buckets?buckets=true", []string{"t1"}},
		{"legacy", "/riak?buckets=true", []string{"b1", "b2"}},
		{"stream", "/buckets?buckets=stream", []string{"b1", "b2"}},
		{"typed stream", "/types/sibs/buckets?buckets=stream", []string{"t1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, "").expect(t, http.StatusOK)
			got := []string{}
			for _, o := range decodeStream(t, r.body) {
				got = append(got, jsonStrings(t, o["buckets"])...)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("buckets %q, want %q", got, tc.want)
			}
		})
	}
	e.do(http.MethodGet, "/buckets", "").expect(t, http.StatusBadRequest)
	e.do(http.MethodGet, "/types/nope/buckets?buckets=true", "").expect(t, http.StatusNotFound)
}
