package mesoslocal

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SchedulerRealm is the HTTP authentication realm of the scheduler API,
// as Mesos names it for its default HTTP framework authenticator (basic).
const SchedulerRealm = "mesos-master-scheduler"

// Credential is a principal and its secret, as in Mesos' --credentials.
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret"`
}

// ReadCredentials reads a credentials file in the format of Mesos'
// --credentials; see ParseCredentials.
func ReadCredentials(path string) ([]Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mesoslocal: credentials file: %w", err)
	}
	creds, err := ParseCredentials(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return creds, nil
}

// ParseCredentials parses the two formats Mesos' --credentials takes:
// JSON {"credentials":[{"principal":"p","secret":"s"},...]}, or text with
// one "principal secret" per line (separated by one or more spaces). A
// file that starts with '{' is JSON. Every principal must be non-empty,
// given once and free of ':' and control characters; every secret
// non-empty and free of ':' (Mesos' basic authenticator splits the
// decoded "principal:secret" on every ':', so such a secret never
// matches) and control characters. At least one credential is required.
func ParseCredentials(b []byte) ([]Credential, error) {
	var creds []Credential
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var doc struct {
			Credentials []Credential `json:"credentials"`
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("mesoslocal: credentials: bad JSON: %v", err)
		}
		if dec.More() {
			return nil, errors.New("mesoslocal: credentials: bad JSON: data after the object")
		}
		creds = doc.Credentials
		for i, c := range creds {
			if err := checkCredential(c); err != nil {
				return nil, fmt.Errorf("mesoslocal: credentials: entry %d: %w", i+1, err)
			}
		}
	} else {
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if strings.Trim(line, " ") == "" {
				continue
			}
			f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' })
			if len(f) != 2 {
				return nil, fmt.Errorf("mesoslocal: credentials: line %d: want \"principal secret\" separated by a space", i+1)
			}
			c := Credential{Principal: f[0], Secret: f[1]}
			if err := checkCredential(c); err != nil {
				return nil, fmt.Errorf("mesoslocal: credentials: line %d: %w", i+1, err)
			}
			creds = append(creds, c)
		}
	}
	if len(creds) == 0 {
		return nil, errors.New("mesoslocal: credentials: none given")
	}
	if err := checkCredentials(creds); err != nil {
		return nil, fmt.Errorf("mesoslocal: credentials: %w", err)
	}
	return creds, nil
}

// checkCredentials checks every credential and that no principal is
// given twice.
func checkCredentials(creds []Credential) error {
	seen := make(map[string]bool, len(creds))
	for _, c := range creds {
		if err := checkCredential(c); err != nil {
			return err
		}
		if seen[c.Principal] {
			return fmt.Errorf("principal %q is given twice", c.Principal)
		}
		seen[c.Principal] = true
	}
	return nil
}

func checkCredential(c Credential) error {
	switch {
	case c.Principal == "":
		return errors.New("empty principal")
	case strings.ContainsRune(c.Principal, ':'):
		return fmt.Errorf("principal %q: a ':' cannot be sent in HTTP Basic authentication", c.Principal)
	case strings.ContainsFunc(c.Principal, unicode.IsControl):
		return fmt.Errorf("principal %q: control characters", c.Principal)
	case c.Secret == "":
		return fmt.Errorf("principal %q: empty secret", c.Principal)
	case strings.ContainsRune(c.Secret, ':'):
		return fmt.Errorf("principal %q: a secret with ':' never matches (Mesos' basic authenticator splits on every ':')", c.Principal)
	case strings.ContainsFunc(c.Secret, unicode.IsControl):
		return fmt.Errorf("principal %q: control characters in the secret", c.Principal)
	}
	return nil
}

// authenticate checks a request's HTTP Basic credential against the
// configured ones. With none configured every request passes with no
// principal. Otherwise it answers 401 as Mesos does and reports false.
func (m *Master) authenticate(w http.ResponseWriter, r *http.Request) (principal string, ok bool) {
	if len(m.cfg.Credentials) == 0 {
		return "", true
	}
	user, pass, has := r.BasicAuth()
	if has {
		// Hashes of equal length, every entry compared in full: timing
		// says nothing of which principal, or how much or how long a
		// secret, matched.
		u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		for _, c := range m.cfg.Credentials {
			cu, cp := sha256.Sum256([]byte(c.Principal)), sha256.Sum256([]byte(c.Secret))
			if subtle.ConstantTimeCompare(u[:], cu[:])&subtle.ConstantTimeCompare(p[:], cp[:]) == 1 {
				principal, ok = c.Principal, true
			}
		}
	}
	if !ok {
		m.log.Warn("scheduler API call not authenticated", "remote", r.RemoteAddr, "principal", clipPrincipal(user), "credential_sent", has)
		w.Header().Set("WWW-Authenticate", `Basic realm="`+SchedulerRealm+`"`)
		httpError(w, http.StatusUnauthorized, "401 Unauthorized.")
	}
	return principal, ok
}

// principalMismatch is Mesos' answer (400) to a call whose authenticated
// principal is not the framework's.
func principalMismatch(authenticated, info string) string {
	return "Failed to validate scheduler::Call: Authenticated principal '" + authenticated +
		"' does not match principal '" + info + "' set in `FrameworkInfo`"
}

// clipPrincipal bounds an unauthenticated principal before it is logged.
func clipPrincipal(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= 64 {
		return s
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
