package kv

import (
	"cmp"
	"strings"
)

// EncodeContinuation returns the 2i continuation token that resumes a query
// after (term, key): a cluster coordinator that merges several nodes' pages
// cuts the page itself and must hand out the same tokens the engine does.
func EncodeContinuation(term, key string) string { return encodeContinuation(term, key) }

// DecodeContinuation parses a continuation token; it never panics.
func DecodeContinuation(s string) (term, key string, err error) { return decodeContinuation(s) }

// CompareTerms returns the order IndexQuery yields terms in for index:
// numeric for _int indexes, byte order otherwise ($bucket, $key, _bin).
func CompareTerms(index string) func(a, b string) int {
	if strings.HasSuffix(index, "_int") {
		return compareIntTerms
	}
	return cmp.Compare[string]
}
