package httpauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	deny := func(w http.ResponseWriter, msg string) { http.Error(w, msg, http.StatusUnauthorized) }
	g := New("s3cret")
	g.AllowQuery = true
	h := g.Wrap(ok, Mutating, deny)
	for _, tc := range []struct {
		method, target, auth string
		want                 int
	}{
		{"GET", "/x", "", 204},
		{"HEAD", "/x", "", 204},
		{"POST", "/x", "", 401},
		{"DELETE", "/x", "Bearer wrong", 401},
		{"PUT", "/x", "Bearer s3cret", 204},
		{"PUT", "/x", "bearer s3cret", 204},
		{"PUT", "/x", "Basic s3cret", 401},
		{"PUT", "/x", "Bearer s3cre", 401},
		{"PUT", "/x", "Bearer s3cretX", 401},
		{"POST", "/x?token=s3cret", "", 204},
		{"POST", "/x?token=", "", 401},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s %q: %d, want %d", tc.method, tc.target, tc.auth, w.Code, tc.want)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.target)
		}
	}
	// Without AllowQuery the query form is refused.
	g2 := New("s3cret")
	r := httptest.NewRequest("POST", "/x?token=s3cret", nil)
	w := httptest.NewRecorder()
	g2.Wrap(ok, nil, deny).ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("query token without AllowQuery: %d", w.Code)
	}
	// No token: everything passes.
	w = httptest.NewRecorder()
	New("").Wrap(ok, nil, deny).ServeHTTP(w, httptest.NewRequest("DELETE", "/x", nil))
	if w.Code != 204 {
		t.Errorf("no token configured: %d", w.Code)
	}
}
