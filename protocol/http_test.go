package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseHTTPPath(t *testing.T) {
	cases := []struct {
		name string
		path string
		want HTTPRoute
	}{
		{"ping", "/ping", HTTPRoute{Kind: HTTPPing}},
		{"stats", "/stats", HTTPRoute{Kind: HTTPStats}},
		{"mapred", "/mapred", HTTPRoute{Kind: HTTPMapRed}},
		{"mapred with query", "/mapred?chunked=true", HTTPRoute{Kind: HTTPMapRed}},
		{"typed object", "/types/maps/buckets/users/keys/alice", HTTPRoute{Kind: HTTPObject, Type: "maps", Bucket: "users", Key: "alice"}},
		{"typed key listing", "/types/t/buckets/b/keys?keys=stream", HTTPRoute{Kind: HTTPKeys, Type: "t", Bucket: "b"}},
		{"typed bucket props", "/types/t/buckets/b/props", HTTPRoute{Kind: HTTPBucketProps, Type: "t", Bucket: "b"}},
		{"typed 2i exact", "/types/t/buckets/b/index/email_bin/a@b.c", HTTPRoute{Kind: HTTPIndex, Type: "t", Bucket: "b", Index: "email_bin", Values: []string{"a@b.c"}}},
		{"typed 2i range", "/types/t/buckets/b/index/age_int/10/20", HTTPRoute{Kind: HTTPIndex, Type: "t", Bucket: "b", Index: "age_int", Values: []string{"10", "20"}}},
		{"typed bucket list", "/types/t/buckets?buckets=true", HTTPRoute{Kind: HTTPBuckets, Type: "t"}},
		{"type props", "/types/t/props", HTTPRoute{Kind: HTTPTypeProps, Type: "t"}},
		{"typed datatype", "/types/counters/buckets/b/datatypes/k", HTTPRoute{Kind: HTTPDatatype, Type: "counters", Bucket: "b", Key: "k"}},
		{"typed datatype without key", "/types/sets/buckets/b/datatypes", HTTPRoute{Kind: HTTPDatatype, Type: "sets", Bucket: "b"}},
		{"typed preflist", "/types/t/buckets/b/keys/k/preflist", HTTPRoute{Kind: HTTPPreflist, Type: "t", Bucket: "b", Key: "k"}},
		{"legacy object", "/buckets/b/keys/k", HTTPRoute{Kind: HTTPObject, Type: "default", Bucket: "b", Key: "k"}},
		{"legacy keys", "/buckets/b/keys", HTTPRoute{Kind: HTTPKeys, Type: "default", Bucket: "b"}},
		{"legacy props", "/buckets/b/props", HTTPRoute{Kind: HTTPBucketProps, Type: "default", Bucket: "b"}},
		{"legacy 2i", "/buckets/b/index/$bucket/_", HTTPRoute{Kind: HTTPIndex, Type: "default", Bucket: "b", Index: "$bucket", Values: []string{"_"}}},
		{"legacy 2i range", "/buckets/b/index/f_bin/a/z", HTTPRoute{Kind: HTTPIndex, Type: "default", Bucket: "b", Index: "f_bin", Values: []string{"a", "z"}}},
		{"bucket list", "/buckets?buckets=true", HTTPRoute{Kind: HTTPBuckets, Type: "default"}},
		{"riak object", "/riak/b/k", HTTPRoute{Kind: HTTPObject, Type: "default", Bucket: "b", Key: "k"}},
		{"riak bucket", "/riak/b?keys=true", HTTPRoute{Kind: HTTPLegacyBucket, Type: "default", Bucket: "b"}},
		{"riak bucket list", "/riak?buckets=true", HTTPRoute{Kind: HTTPBuckets, Type: "default"}},
		{"search query", "/search/query/famous?q=name:Lion*", HTTPRoute{Kind: HTTPSearchQuery, Index: "famous"}},
		{"search index list", "/search/index", HTTPRoute{Kind: HTTPSearchIndex}},
		{"search index", "/search/index/famous", HTTPRoute{Kind: HTTPSearchIndex, Index: "famous"}},
		{"search schema", "/search/schema/cartoons", HTTPRoute{Kind: HTTPSearchSchema, Key: "cartoons"}},
		{"ts query", "/ts/v1/query", HTTPRoute{Kind: HTTPTSQuery}},
		{"ts write", "/ts/v1/tables/GeoCheckin/keys", HTTPRoute{Kind: HTTPTSKeys, Bucket: "GeoCheckin", Values: []string{}}},
		{"ts get", "/ts/v1/tables/GeoCheckin/keys/region/South%20Atlantic/time/1420113600000",
			HTTPRoute{Kind: HTTPTSKeys, Bucket: "GeoCheckin", Values: []string{"region", "South Atlantic", "time", "1420113600000"}}},
		{"ts list keys", "/ts/v1/tables/GeoCheckin/list_keys", HTTPRoute{Kind: HTTPTSListKeys, Bucket: "GeoCheckin"}},
		{"escaped slash stays in key", "/buckets/b/keys/a%2Fb", HTTPRoute{Kind: HTTPObject, Type: "default", Bucket: "b", Key: "a/b"}},
		{"escaped unicode", "/types/t%20x/buckets/%E2%9C%93/keys/%3F", HTTPRoute{Kind: HTTPObject, Type: "t x", Bucket: "✓", Key: "?"}},
		{"trailing slash", "/buckets/b/keys/", HTTPRoute{Kind: HTTPKeys, Type: "default", Bucket: "b"}},
		{"ping trailing slash", "/ping/", HTTPRoute{Kind: HTTPPing}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHTTPPath(tc.path)
			if err != nil {
				t.Fatalf("ParseHTTPPath(%q): %v", tc.path, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseHTTPPath(%q) = %+v, want %+v", tc.path, got, tc.want)
			}
		})
	}
}

func TestParseHTTPPathErrors(t *testing.T) {
	cases := []struct{ name, path string }{
		{"empty", ""},
		{"root", "/"},
		{"relative", "ping"},
		{"unknown top", "/admin"},
		{"ping with extra", "/ping/x"},
		{"bucket alone", "/buckets/b"},
		{"typed bucket alone", "/types/t/buckets/b"},
		{"types alone", "/types/t"},
		{"empty bucket", "/buckets//keys/k"},
		{"empty key", "/buckets/b/keys//"},
		{"double trailing slash", "/ping//"},
		{"key then junk", "/buckets/b/keys/k/x"},
		{"props with extra", "/buckets/b/props/x"},
		{"2i without value", "/buckets/b/index/i"},
		{"2i too many values", "/buckets/b/index/i/1/2/3"},
		{"datatypes extra", "/types/t/buckets/b/datatypes/k/x"},
		{"riak link walk", "/riak/b/k/_,_,1"},
		{"bad escape", "/buckets/b/keys/%zz"},
		{"unknown bucket resource", "/buckets/b/other"},
		{"search unknown", "/search/foo/bar"},
		{"ts odd key path", "/ts/v1/tables/t/keys/region"},
		{"ts other version", "/ts/v2/query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := ParseHTTPPath(tc.path)
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("ParseHTTPPath(%q) = %+v, %v; want ErrBadPath", tc.path, rt, err)
			}
			if !reflect.DeepEqual(rt, HTTPRoute{}) {
				t.Fatalf("route not zero on error: %+v", rt)
			}
		})
	}
}

func TestHTTPRetryable(t *testing.T) {
	obj := HTTPRoute{Kind: HTTPObject, Type: "default", Bucket: "b", Key: "k"}
	cases := []struct {
		name   string
		method string
		route  HTTPRoute
		want   bool
	}{
		{"GET object", "GET", obj, true},
		{"HEAD object", "HEAD", obj, true},
		{"OPTIONS", "OPTIONS", obj, true},
		{"PUT object", "PUT", obj, false},
		{"POST object", "POST", obj, false},
		{"DELETE object", "DELETE", obj, false},
		{"POST mapred", "POST", HTTPRoute{Kind: HTTPMapRed}, true},
		{"POST ts query", "POST", HTTPRoute{Kind: HTTPTSQuery}, false},
		{"PUT props", "PUT", HTTPRoute{Kind: HTTPBucketProps}, false},
		{"lower-case get is not GET", "get", obj, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := HTTPRetryable(tc.method, tc.route); got != tc.want {
				t.Fatalf("HTTPRetryable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHTTPKindString(t *testing.T) {
	if HTTPObject.String() != "object" || HTTPKind(200).String() != "HTTPKind(200)" {
		t.Fatalf("String: %q %q", HTTPObject.String(), HTTPKind(200).String())
	}
}

func TestHTTPMetadata(t *testing.T) {
	for path, want := range map[string]bool{
		"/buckets/b/props": true, "/types/t/buckets/b/props": true, "/types/t/props": true, "/riak/b": true,
		"/types/t/buckets/b/keys/k/preflist": true, "/search/index/i": true, "/search/schema/s": true,
		"/buckets/b/keys/k": false, "/types/t/buckets/b/datatypes/k": false, "/ping": false, "/mapred": false,
		"/buckets/b/index/i_bin/v": false, "/search/query/i": false,
	} {
		rt, err := ParseHTTPPath(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := HTTPMetadata(rt); got != want {
			t.Errorf("HTTPMetadata(%s) = %v, want %v", path, got, want)
		}
	}
}
