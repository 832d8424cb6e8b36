package protocol

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadPath: a path that is not one of Riak's HTTP resources.
var ErrBadPath = errors.New("protocol: bad riak http path")

// HTTPKind names a Riak HTTP resource.
type HTTPKind uint8

// Riak HTTP resources. T is a bucket type, B a bucket, K a key; paths
// without /types/T use the "default" type.
const (
	HTTPUnknown      HTTPKind = iota
	HTTPPing                  // /ping
	HTTPStats                 // /stats
	HTTPBuckets               // /types/T/buckets, /buckets, /riak (list with ?buckets=true|stream)
	HTTPTypeProps             // /types/T/props
	HTTPBucketProps           // /types/T/buckets/B/props, /buckets/B/props
	HTTPKeys                  // /types/T/buckets/B/keys, /buckets/B/keys (list with ?keys=true|stream)
	HTTPObject                // /types/T/buckets/B/keys/K, /buckets/B/keys/K, /riak/B/K
	HTTPPreflist              // /types/T/buckets/B/keys/K/preflist, /buckets/B/keys/K/preflist
	HTTPIndex                 // /types/T/buckets/B/index/I/V[/V2], /buckets/B/index/I/V[/V2]
	HTTPDatatype              // /types/T/buckets/B/datatypes[/K]
	HTTPLegacyBucket          // /riak/B: props, and keys with ?keys=true
	HTTPMapRed                // /mapred
	HTTPSearchQuery           // /search/query/INDEX
	HTTPSearchIndex           // /search/index[/INDEX]
	HTTPSearchSchema          // /search/schema/NAME
	HTTPTSQuery               // /ts/v1/query
	HTTPTSKeys                // /ts/v1/tables/TABLE/keys[/COLUMN/VALUE...]
	HTTPTSListKeys            // /ts/v1/tables/TABLE/list_keys
)

var httpKindNames = [...]string{
	HTTPUnknown:      "unknown",
	HTTPPing:         "ping",
	HTTPStats:        "stats",
	HTTPBuckets:      "buckets",
	HTTPTypeProps:    "type-props",
	HTTPBucketProps:  "bucket-props",
	HTTPKeys:         "keys",
	HTTPObject:       "object",
	HTTPPreflist:     "preflist",
	HTTPIndex:        "index",
	HTTPDatatype:     "datatype",
	HTTPLegacyBucket: "legacy-bucket",
	HTTPMapRed:       "mapred",
	HTTPSearchQuery:  "search-query",
	HTTPSearchIndex:  "search-index",
	HTTPSearchSchema: "search-schema",
	HTTPTSQuery:      "ts-query",
	HTTPTSKeys:       "ts-keys",
	HTTPTSListKeys:   "ts-list-keys",
}

func (k HTTPKind) String() string {
	if int(k) < len(httpKindNames) {
		return httpKindNames[k]
	}
	return fmt.Sprintf("HTTPKind(%d)", uint8(k))
}

// HTTPRoute is a parsed Riak HTTP path.
type HTTPRoute struct {
	Kind HTTPKind
	// Type is the bucket type: "default" unless the path names one. Empty
	// for resources outside buckets (ping, stats, mapred, search, ts).
	Type string
	// Bucket is the bucket, or the table for TS resources.
	Bucket string
	// Key is the object or data-type key, or the schema name for
	// HTTPSearchSchema. Empty when the path has none.
	Key string
	// Index is the secondary index (HTTPIndex) or search index.
	Index string
	// Values holds a 2i query's value or range bounds, or a TS key path's
	// alternating column names and values.
	Values []string
}

const defaultTypeName = "default"

// ParseHTTPPath parses the path of a Riak HTTP request. Pass the escaped
// form (url.URL.EscapedPath or RequestURI) so that a key holding "/" as %2F
// stays one segment; a query string is ignored. Segments are unescaped. A
// single trailing slash is allowed; an empty segment or an unknown resource
// is ErrBadPath.
func ParseHTTPPath(path string) (HTTPRoute, error) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if len(path) < 2 || path[0] != '/' {
		return HTTPRoute{}, badPath(path, "not an absolute resource path")
	}
	p := strings.TrimSuffix(path[1:], "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "" {
			return HTTPRoute{}, badPath(path, "empty segment")
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return HTTPRoute{}, badPath(path, err.Error())
		}
		segs[i] = u
	}
	rt, ok := route(segs)
	if !ok {
		return HTTPRoute{}, badPath(path, "unknown resource")
	}
	return rt, nil
}

func badPath(path, why string) error {
	return fmt.Errorf("%w %q: %s", ErrBadPath, path, why)
}

func route(s []string) (HTTPRoute, bool) {
	switch s[0] {
	case "ping", "stats", "mapred":
		if len(s) != 1 {
			return HTTPRoute{}, false
		}
		k := HTTPPing
		switch s[0] {
		case "stats":
			k = HTTPStats
		case "mapred":
			k = HTTPMapRed
		}
		return HTTPRoute{Kind: k}, true
	case "buckets":
		if len(s) == 1 {
			return HTTPRoute{Kind: HTTPBuckets, Type: defaultTypeName}, true
		}
		return bucketRoute(defaultTypeName, s[1], s[2:])
	case "types":
		switch {
		case len(s) == 3 && s[2] == "buckets":
			return HTTPRoute{Kind: HTTPBuckets, Type: s[1]}, true
		case len(s) == 3 && s[2] == "props":
			return HTTPRoute{Kind: HTTPTypeProps, Type: s[1]}, true
		case len(s) >= 4 && s[2] == "buckets":
			return bucketRoute(s[1], s[3], s[4:])
		}
	case "riak":
		switch len(s) {
		case 1:
			return HTTPRoute{Kind: HTTPBuckets, Type: defaultTypeName}, true
		case 2:
			return HTTPRoute{Kind: HTTPLegacyBucket, Type: defaultTypeName, Bucket: s[1]}, true
		case 3:
			return HTTPRoute{Kind: HTTPObject, Type: defaultTypeName, Bucket: s[1], Key: s[2]}, true
		}
	case "search":
		switch {
		case len(s) == 3 && s[1] == "query":
			return HTTPRoute{Kind: HTTPSearchQuery, Index: s[2]}, true
		case len(s) == 2 && s[1] == "index":
			return HTTPRoute{Kind: HTTPSearchIndex}, true
		case len(s) == 3 && s[1] == "index":
			return HTTPRoute{Kind: HTTPSearchIndex, Index: s[2]}, true
		case len(s) == 3 && s[1] == "schema":
			return HTTPRoute{Kind: HTTPSearchSchema, Key: s[2]}, true
		}
	case "ts":
		switch {
		case len(s) == 3 && s[1] == "v1" && s[2] == "query":
			return HTTPRoute{Kind: HTTPTSQuery}, true
		case len(s) == 5 && s[1] == "v1" && s[2] == "tables" && s[4] == "list_keys":
			return HTTPRoute{Kind: HTTPTSListKeys, Bucket: s[3]}, true
		case len(s) >= 5 && s[1] == "v1" && s[2] == "tables" && s[4] == "keys" && len(s[5:])%2 == 0:
			return HTTPRoute{Kind: HTTPTSKeys, Bucket: s[3], Values: s[5:len(s):len(s)]}, true
		}
	}
	return HTTPRoute{}, false
}

// bucketRoute parses what follows /types/T/buckets/B or /buckets/B.
func bucketRoute(typ, bucket string, rest []string) (HTTPRoute, bool) {
	rt := HTTPRoute{Type: typ, Bucket: bucket}
	if len(rest) == 0 {
		return HTTPRoute{}, false
	}
	switch rest[0] {
	case "keys":
		switch len(rest) {
		case 1:
			rt.Kind = HTTPKeys
		case 2:
			rt.Kind, rt.Key = HTTPObject, rest[1]
		case 3:
			if rest[2] != "preflist" {
				return HTTPRoute{}, false
			}
			rt.Kind, rt.Key = HTTPPreflist, rest[1]
		default:
			return HTTPRoute{}, false
		}
	case "props":
		if len(rest) != 1 {
			return HTTPRoute{}, false
		}
		rt.Kind = HTTPBucketProps
	case "index":
		if len(rest) != 3 && len(rest) != 4 {
			return HTTPRoute{}, false
		}
		rt.Kind, rt.Index, rt.Values = HTTPIndex, rest[1], rest[2:len(rest):len(rest)]
	case "datatypes":
		switch len(rest) {
		case 1:
			rt.Kind = HTTPDatatype
		case 2:
			rt.Kind, rt.Key = HTTPDatatype, rest[1]
		default:
			return HTTPRoute{}, false
		}
	default:
		return HTTPRoute{}, false
	}
	return rt, true
}

// HTTPRetryable reports whether a proxy may send the request again, possibly
// to another node, as long as nothing of the response has reached the
// client: GET, HEAD and OPTIONS always, and POST /mapred, which only reads
// (matching RpbMapRedReq in the message table). Other writes are not.
func HTTPRetryable(method string, rt HTTPRoute) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return true
	case "POST":
		return rt.Kind == HTTPMapRed
	}
	return false
}

// HTTPMetadata reports whether the request reads or changes cluster
// metadata, which Riak spreads by gossip (see Message.Metadata): bucket and
// bucket-type properties, preflists, search indexes and schemas. It
// changes metadata unless it is HTTPRetryable.
func HTTPMetadata(rt HTTPRoute) bool {
	switch rt.Kind {
	case HTTPTypeProps, HTTPBucketProps, HTTPPreflist, HTTPLegacyBucket, HTTPSearchIndex, HTTPSearchSchema:
		return true
	}
	return false
}
