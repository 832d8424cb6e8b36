package mesoslocal_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
)

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []mesoslocal.Credential
		err      string // substring of the error; "" = valid
	}{
		{name: "json", in: `{"credentials":[{"principal":"riak","secret":"s1"},{"principal":"ops","secret":"s2"}]}`,
			want: []mesoslocal.Credential{{"riak", "s1"}, {"ops", "s2"}}},
		{name: "json with spaces", in: "\n  {\"credentials\": [ {\"principal\": \"riak\", \"secret\": \"s p\"} ]}\n",
			want: []mesoslocal.Credential{{"riak", "s p"}}},
		{name: "text", in: "riak s1\nops  s2\r\n\n", want: []mesoslocal.Credential{{"riak", "s1"}, {"ops", "s2"}}},
		{name: "bad json", in: `{"credentials":[{"principal":"riak"`, err: "bad JSON"},
		{name: "unknown json field", in: `{"credentials":[{"principal":"riak","secrets":"x"}]}`, err: "bad JSON"},
		{name: "trailing json", in: `{"credentials":[]} {}`, err: "bad JSON"},
		{name: "empty principal json", in: `{"credentials":[{"principal":"","secret":"s"}]}`, err: "entry 1: empty principal"},
		{name: "empty secret json", in: `{"credentials":[{"principal":"riak"}]}`, err: `principal "riak": empty secret`},
		{name: "no credentials json", in: `{"credentials":[]}`, err: "none given"},
		{name: "empty file", in: "", err: "none given"},
		{name: "text one field", in: "riak s1\nops\n", err: "line 2: want \"principal secret\""},
		{name: "text three fields", in: "riak s 1\n", err: "line 1"},
		{name: "text tab", in: "riak\ts1\n", err: "line 1"},
		{name: "colon principal", in: "ri:ak s1\n", err: "cannot be sent in HTTP Basic"},
		{name: "colon secret", in: "riak s:1\n", err: "never matches"},
		{name: "control secret", in: `{"credentials":[{"principal":"riak","secret":"a\u0000b"}]}`, err: "control characters"},
		{name: "duplicate", in: "riak s1\nriak s2\n", err: `"riak" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mesoslocal.ParseCredentials([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err %v, want one line with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestReadCredentialsNamesTheFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "creds")
	if _, err := mesoslocal.ReadCredentials(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"credentials":[{"principal":""}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mesoslocal.ReadCredentials(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "empty principal") {
		t.Errorf("bad file: %v", err)
	}
}

func TestConfigValidatesCredentials(t *testing.T) {
	t.Parallel()
	cfg := mesoslocal.Config{WorkDir: t.TempDir(), Credentials: []mesoslocal.Credential{{Principal: "", Secret: "x"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "empty principal") {
		t.Errorf("Validate: %v", err)
	}
}

// startAuthMaster runs a mesos-local that requires credentials riak:s3cret
// and ops:0ps.
func startAuthMaster(t *testing.T) (*mesoslocal.Master, string) {
	t.Helper()
	return mesoslocaltest.Start(t, mesoslocal.Config{
		Agents: 1, WorkDir: t.TempDir(), HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond,
		Credentials: []mesoslocal.Credential{{Principal: "riak", Secret: "s3cret"}, {Principal: "ops", Secret: "0ps"}},
	})
}

// post sends a JSON call with optional Basic credentials.
func post(t *testing.T, url, body, user, pass string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

const subscribeJSON = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"auth-test","role":"riak"%s}}}`

// TestSchedulerAPIAuthentication: with credentials, the scheduler API
// answers what Mesos' basic HTTP authenticator and its call validation
// answer.
func TestSchedulerAPIAuthentication(t *testing.T) {
	t.Parallel()
	m, url := startAuthMaster(t)
	sub := strings.ReplaceAll(subscribeJSON, "%s", `,"principal":"riak"`)
	for _, tc := range []struct {
		name, user, pass string
		raw              string // a raw Authorization header instead
	}{
		{name: "no credential"},
		{name: "wrong secret", user: "riak", pass: "nope"},
		{name: "unknown principal", user: "who", pass: "s3cret"},
		{name: "another principal's secret", user: "riak", pass: "0ps"},
		{name: "secret with a suffix", user: "riak", pass: "s3cret:x"},
		{name: "not basic", raw: "Bearer s3cret"},
		{name: "bad base64", raw: "Basic !!!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.raw != "" {
				hdr = []string{"Authorization", tc.raw}
			}
			resp := post(t, url, sub, tc.user, tc.pass, hdr...)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-scheduler"` ||
				string(b) != "401 Unauthorized." {
				t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
			}
		})
	}
	// Authentication comes before anything else, as in Mesos: a GET is
	// refused with 401, not 405.
	resp, err := http.Get(url + "/api/v1/scheduler")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated GET: %d", resp.StatusCode)
	}

	// The authenticated principal must be the framework's.
	resp = post(t, url, sub, "ops", "0ps")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "Failed to validate scheduler::Call: Authenticated principal 'ops' does not match principal 'riak' set in `FrameworkInfo`"; resp.StatusCode != http.StatusBadRequest || string(b) != want {
		t.Errorf("principal mismatch: %d %q", resp.StatusCode, b)
	}
	if fws := m.State().Frameworks; len(fws) != 0 {
		t.Fatalf("frameworks registered by refused calls: %+v", fws)
	}

	// The right credential subscribes; a later call must come from the
	// same principal.
	resp = post(t, url, sub, "riak", "s3cret")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe: %d %s", resp.StatusCode, b)
	}
	var ev struct {
		Type       string
		Subscribed struct {
			FrameworkID struct{ Value string } `json:"framework_id"`
		}
	}
	if err := json.Unmarshal(readRecord(t, bufio.NewReader(resp.Body)), &ev); err != nil || ev.Type != "SUBSCRIBED" {
		t.Fatalf("first event %+v (%v)", ev, err)
	}
	fid, sid := ev.Subscribed.FrameworkID.Value, resp.Header.Get("Mesos-Stream-Id")
	revive := `{"type":"REVIVE","framework_id":{"value":"` + fid + `"}}`
	r2 := post(t, url, revive, "ops", "0ps", "Mesos-Stream-Id", sid)
	b, _ = io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "Authenticated principal 'ops' does not match principal 'riak'") {
		t.Errorf("REVIVE as another principal: %d %q", r2.StatusCode, b)
	}
	r3 := post(t, url, revive, "riak", "s3cret", "Mesos-Stream-Id", sid)
	r3.Body.Close()
	if r3.StatusCode != http.StatusAccepted {
		t.Errorf("REVIVE: %d", r3.StatusCode)
	}
	if fws := m.State().Frameworks; len(fws) != 1 || fws[0].Principal != "riak" || !fws[0].Connected {
		t.Errorf("frameworks %+v", fws)
	}
}

// TestSubscribeWithoutPrincipalTakesTheAuthenticatedOne, as Mesos sets
// FrameworkInfo.principal when a framework authenticated but named none.
func TestSubscribeWithoutPrincipalTakesTheAuthenticatedOne(t *testing.T) {
	t.Parallel()
	m, url := startAuthMaster(t)
	resp := post(t, url, strings.ReplaceAll(subscribeJSON, "%s", ""), "ops", "0ps")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %d", resp.StatusCode)
	}
	readRecord(t, bufio.NewReader(resp.Body))
	if fws := m.State().Frameworks; len(fws) != 1 || fws[0].Principal != "ops" {
		t.Errorf("frameworks %+v", fws)
	}
}

// TestMesosGoSchedulerAuthenticates: mesos-go's httpcli.BasicAuth is
// accepted on SUBSCRIBE and on the calls that follow.
func TestMesosGoSchedulerAuthenticates(t *testing.T) {
	t.Parallel()
	m, url := startAuthMaster(t)
	s := mesoslocaltest.StartScheduler(t, url, mesoslocaltest.Options{Secret: "s3cret"})
	s.Next("SUBSCRIBED", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
	s.Call(calls.Reconcile(nil))
	s.Call(calls.Revive())
	if fws := m.State().Frameworks; len(fws) != 1 || fws[0].Principal != "riak" {
		t.Errorf("frameworks %+v", fws)
	}
}
