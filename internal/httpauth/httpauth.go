// Package httpauth guards HTTP endpoints with a shared bearer token
// (--api-token / RMF_API_TOKEN): the scheduler API's mutating endpoints and
// the director's admin endpoints. The comparison takes constant time, so
// response timing does not reveal how much of a guess was right.
package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Header is where clients send the token: "Authorization: Bearer TOKEN".
const Header = "Authorization"

// QueryParam carries the token in a URL, for browsers opening a status page
// (they cannot set a header on a page load); only where Guard allows it.
const QueryParam = "token"

// Guard is a token check. The zero value (no token) lets everything through.
type Guard struct {
	sum [sha256.Size]byte
	on  bool
	// AllowQuery accepts the token as ?token= too.
	AllowQuery bool
}

// New returns a guard for token; an empty token guards nothing.
func New(token string) *Guard {
	if token == "" {
		return &Guard{}
	}
	return &Guard{sum: sha256.Sum256([]byte(token)), on: true}
}

// Enabled reports whether a token is required.
func (g *Guard) Enabled() bool { return g != nil && g.on }

// Allowed reports whether r carries the token (always true without one).
// Both sides are hashed first so the comparison is constant-time whatever
// the lengths.
func (g *Guard) Allowed(r *http.Request) bool {
	if !g.Enabled() {
		return true
	}
	given, ok := bearer(r.Header.Get(Header))
	if !ok && g.AllowQuery {
		given, ok = r.URL.Query().Get(QueryParam), r.URL.Query().Has(QueryParam)
	}
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], g.sum[:]) == 1
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Wrap serves next, refusing requests for which guarded is true unless they
// carry the token: deny writes the 401 in the caller's own form (JSON for
// the scheduler API, text for the director). A nil guarded guards all.
func (g *Guard) Wrap(next http.Handler, guarded func(*http.Request) bool, deny func(w http.ResponseWriter, msg string)) http.Handler {
	if !g.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (guarded == nil || guarded(r)) && !g.Allowed(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rmf"`)
			msg := "missing or wrong API token: send Authorization: Bearer <token> (--api-token / RMF_API_TOKEN)"
			if _, ok := bearer(r.Header.Get(Header)); !ok && !r.URL.Query().Has(QueryParam) {
				msg = "this endpoint needs the API token: send Authorization: Bearer <token> (--api-token / RMF_API_TOKEN)"
			}
			deny(w, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Mutating reports whether r may change state (anything but GET, HEAD and
// OPTIONS).
func Mutating(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}
