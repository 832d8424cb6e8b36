package kv

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// indexFixture writes objects with _int and _bin terms, a tombstone and a
// sibling, and returns the engine.
func indexFixture(t *testing.T, newEnv func(Options) *env) *env {
	ev := newEnv(Options{})
	ev.mustType("m", PropsUpdate{})
	objs := []struct {
		key  string
		ints []string
		bins []string
	}{
		{"k1", []string{"10"}, []string{"apple"}},
		{"k2", []string{"-5"}, []string{"banana"}},
		{"k3", []string{"2", "10"}, []string{"apple", "cherry"}},
		{"k4", []string{"100"}, []string{"app"}},
		{"k5", []string{"-100"}, []string{"Zebra"}},
		{"k6", []string{"10"}, []string{"dead"}},
	}
	for _, o := range objs {
		var idx []Pair
		for _, v := range o.ints {
			idx = append(idx, Pair{"n_int", []byte(v)})
		}
		for _, v := range o.bins {
			idx = append(idx, Pair{"s_bin", []byte(v)})
		}
		ev.put("m", "b", o.key, nil, o.key, func(r *PutRequest) { r.Content.Indexes = idx })
	}
	if err := ev.e.Delete(ctx, DeleteRequest{Type: "m", Bucket: "b", Key: "k6"}); err != nil {
		t.Fatal(err)
	}
	// A sibling on k4 adds a term; both siblings' terms are indexed.
	ev.put("m", "b", "k4", nil, "k4b", func(r *PutRequest) { r.Content.Indexes = []Pair{{"n_int", []byte("7")}} })
	// Another bucket's entries must not leak in.
	ev.put("m", "other", "k1", nil, "x", func(r *PutRequest) { r.Content.Indexes = []Pair{{"n_int", []byte("10")}} })
	return ev
}

func fmtResults(rs []IndexResult) string {
	var parts []string
	for _, r := range rs {
		if r.Term != "" {
			parts = append(parts, r.Term+"="+r.Key)
		} else {
			parts = append(parts, r.Key)
		}
	}
	return strings.Join(parts, " ")
}

func TestIndexQueries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		q    IndexQuery
		want string
		err  error
	}{
		{name: "int exact", q: IndexQuery{Index: "n_int", Term: "10"}, want: "k1 k3"},
		{name: "int exact non-canonical", q: IndexQuery{Index: "n_int", Term: "+010"}, want: "k1 k3"},
		{name: "int exact none", q: IndexQuery{Index: "n_int", Term: "11"}, want: ""},
		{name: "int range numeric order", q: IndexQuery{Index: "n_int", Range: true, Min: "-10", Max: "10", ReturnTerms: true}, want: "-5=k2 2=k3 7=k4 10=k1 10=k3"},
		{name: "int range all", q: IndexQuery{Index: "n_int", Range: true, Min: "-9223372036854775808", Max: "9223372036854775807"}, want: "k5 k2 k3 k4 k1 k3 k4"},
		{name: "int range inverted", q: IndexQuery{Index: "n_int", Range: true, Min: "5", Max: "1"}, want: ""},
		{name: "bin exact", q: IndexQuery{Index: "s_bin", Term: "apple"}, want: "k1 k3"},
		{name: "bin range byte order", q: IndexQuery{Index: "s_bin", Range: true, Min: "a", Max: "c", ReturnTerms: true}, want: "app=k4 apple=k1 apple=k3 banana=k2"},
		{name: "bin range uppercase first", q: IndexQuery{Index: "s_bin", Range: true, Min: "A", Max: "b"}, want: "k5 k4 k1 k3"},
		{name: "bin term_regex", q: IndexQuery{Index: "s_bin", Range: true, Min: "a", Max: "z", TermRegex: "^app", ReturnTerms: true}, want: "app=k4 apple=k1 apple=k3"},
		{name: "tombstone excluded", q: IndexQuery{Index: "s_bin", Term: "dead"}, want: ""},
		{name: "$bucket", q: IndexQuery{Index: IndexBucket, Term: "b"}, want: "k1 k2 k3 k4 k5"},
		{name: "$key range", q: IndexQuery{Index: IndexKey, Range: true, Min: "k2", Max: "k4", ReturnTerms: true}, want: "k2=k2 k3=k3 k4=k4"},
		{name: "$key range open start", q: IndexQuery{Index: IndexKey, Range: true, Min: "", Max: "k1"}, want: "k1"},
		{name: "$key exact", q: IndexQuery{Index: IndexKey, Term: "k3"}, want: "k3"},
		{name: "$key exact tombstone", q: IndexQuery{Index: IndexKey, Term: "k6"}, want: ""},
		{name: "$key regex", q: IndexQuery{Index: IndexKey, Range: true, Min: "a", Max: "z", TermRegex: "[35]$"}, want: "k3 k5"},
		{name: "bad index name", q: IndexQuery{Index: "n"}, err: ErrInvalidIndex},
		{name: "bad int term", q: IndexQuery{Index: "n_int", Term: "ten"}, err: ErrInvalidQuery},
		{name: "$bucket range", q: IndexQuery{Index: IndexBucket, Range: true}, err: ErrInvalidQuery},
		{name: "regex on int", q: IndexQuery{Index: "n_int", Range: true, Min: "1", Max: "2", TermRegex: "x"}, err: ErrInvalidQuery},
		{name: "regex on exact", q: IndexQuery{Index: "s_bin", Term: "a", TermRegex: "x"}, err: ErrInvalidQuery},
		{name: "bad regex", q: IndexQuery{Index: "s_bin", Range: true, TermRegex: "("}, err: ErrInvalidQuery},
		{name: "bad continuation", q: IndexQuery{Index: "s_bin", Term: "a", Continuation: "%%%"}, err: ErrInvalidContinuation},
		{name: "empty bucket", q: IndexQuery{Index: "s_bin", Term: "a", Bucket: "-"}, err: ErrInvalidBucket},
	}
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := indexFixture(t, newEnv)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				q := tc.q
				q.Type = "m"
				switch q.Bucket {
				case "":
					q.Bucket = "b"
				case "-":
					q.Bucket = ""
				}
				rs, cont, err := ev.query(q)
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if got := fmtResults(rs); got != tc.want {
					t.Fatalf("got  %q\nwant %q", got, tc.want)
				}
				if cont != "" {
					t.Fatalf("unexpected continuation without max_results")
				}
			})
		}
		// Updating an object moves its index entries.
		ev.put("m", "b", "k2", ev.get("m", "b", "k2").Object.VClock, "k2", func(r *PutRequest) {
			r.Content.Indexes = []Pair{{"n_int", []byte("11")}}
		})
		if rs, _, _ := ev.query(IndexQuery{Type: "m", Bucket: "b", Index: "n_int", Range: true, Min: "-5", Max: "-5"}); len(rs) != 0 {
			t.Fatalf("old term still indexed: %v", rs)
		}
		if rs, _, _ := ev.query(IndexQuery{Type: "m", Bucket: "b", Index: "n_int", Term: "11"}); fmtResults(rs) != "k2" {
			t.Fatalf("new term not indexed: %v", rs)
		}
		if rs, _, _ := ev.query(IndexQuery{Type: "m", Bucket: "b", Index: "s_bin", Term: "banana"}); len(rs) != 0 {
			t.Fatalf("dropped term still indexed: %v", rs)
		}
	})
}

// TestIndexPagination pages through queries with several page sizes and
// checks that the pages concatenate to exactly the unpaged results.
func TestIndexPagination(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		for i := range 230 {
			key := fmt.Sprintf("key%03d", i)
			idx := []Pair{
				{"n_int", []byte(fmt.Sprint(i%17 - 8))}, // repeated terms, negatives
				{"n_int", []byte(fmt.Sprint(1000 + i))}, // unique terms
				{"s_bin", []byte(fmt.Sprintf("t%02d", i%13))},
			}
			ev.put("", "p", key, nil, "v", func(r *PutRequest) { r.Content.Indexes = idx })
		}
		queries := []IndexQuery{
			{Index: "n_int", Range: true, Min: "-8", Max: "2000", ReturnTerms: true},
			{Index: "n_int", Range: true, Min: "-3", Max: "3"},
			{Index: "n_int", Term: "0"},
			{Index: "s_bin", Range: true, Min: "t00", Max: "t99", ReturnTerms: true},
			{Index: "s_bin", Range: true, Min: "t", Max: "u", TermRegex: "[13]$"},
			{Index: IndexBucket, Term: "p"},
			{Index: IndexKey, Range: true, Min: "key050", Max: "key199"},
		}
		for qi, base := range queries {
			base.Bucket = "p"
			all, cont, err := ev.query(base)
			if err != nil || cont != "" || len(all) == 0 {
				t.Fatalf("query %d unpaged: %d results, %q, %v", qi, len(all), cont, err)
			}
			for _, size := range []uint32{1, 7, 50, uint32(len(all) - 1), uint32(len(all)), uint32(len(all) + 1), 5000} {
				t.Run(fmt.Sprintf("q%d/max%d", qi, size), func(t *testing.T) {
					q := base
					q.MaxResults = size
					var got []IndexResult
					pages := 0
					for {
						rs, cont, err := ev.query(q)
						if err != nil {
							t.Fatal(err)
						}
						pages++
						if len(rs) > int(size) {
							t.Fatalf("page %d has %d > %d results", pages, len(rs), size)
						}
						got = append(got, rs...)
						if cont == "" {
							break
						}
						if len(rs) != int(size) {
							t.Fatalf("short page %d (%d) with a continuation", pages, len(rs))
						}
						if pages > len(all)+2 {
							t.Fatal("pagination does not terminate")
						}
						q.Continuation = cont
					}
					if !slices.Equal(got, all) {
						t.Fatalf("paged results differ: %d vs %d", len(got), len(all))
					}
					if want := (len(all) + int(size) - 1) / int(size); pages != want {
						t.Fatalf("pages = %d, want %d", pages, want)
					}
				})
			}
		}
	})
}
