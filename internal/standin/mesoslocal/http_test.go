package mesoslocal_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readRecord reads one RecordIO record.
func readRecord(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("record length: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n <= 0 || n > 4<<20 {
		t.Fatalf("bad record length %q", line)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// agentNumber is the 1-based number in an agent ID ("...-S2" is 2).
func agentNumber(t *testing.T, id string) int {
	t.Helper()
	_, n, ok := strings.Cut(id[strings.LastIndexByte(id, '-')+1:], "S")
	i, err := strconv.Atoi(n)
	if !ok || err != nil {
		t.Fatalf("agent ID %q has no number", id)
	}
	return i
}

// TestPlainJSONSubscribe is what `curl` sees: no mesos-go on the client.
func TestPlainJSONSubscribe(t *testing.T) {
	_, url := startMaster(t, 2)
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"curl","roles":["riak"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mesos-Stream-Id") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	r := bufio.NewReader(resp.Body)
	var sub struct {
		Type       string
		Subscribed struct {
			FrameworkID struct{ Value string } `json:"framework_id"`
			Heartbeat   float64                `json:"heartbeat_interval_seconds"`
		}
	}
	if err := json.Unmarshal(readRecord(t, r), &sub); err != nil || sub.Type != "SUBSCRIBED" || sub.Subscribed.FrameworkID.Value == "" || sub.Subscribed.Heartbeat <= 0 {
		t.Fatalf("first event %+v (%v)", sub, err)
	}
	agents := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(agents) < 2 && time.Now().Before(deadline) {
		var ev struct {
			Type   string
			Offers struct {
				Offers []struct {
					AgentID  struct{ Value string } `json:"agent_id"`
					Hostname string
					URL      struct {
						Address struct {
							Hostname, IP string
						}
					}
					Resources []struct {
						Name           string
						Type           string
						Scalar         *struct{ Value float64 }
						Ranges         *struct{ Range []struct{ Begin, End uint64 } }
						AllocationInfo *struct{ Role string } `json:"allocation_info"`
					}
				}
			}
		}
		if err := json.Unmarshal(readRecord(t, r), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "OFFERS" {
			continue
		}
		for _, o := range ev.Offers.Offers {
			names := map[string]bool{}
			for _, res := range o.Resources {
				names[res.Name] = true
				if res.AllocationInfo == nil || res.AllocationInfo.Role != "riak" {
					t.Errorf("MULTI_ROLE offer without allocation_info: %+v", res)
				}
				if res.Name == "ports" && (res.Type != "RANGES" || res.Ranges == nil || len(res.Ranges.Range) == 0) {
					t.Errorf("ports: %+v", res)
				}
			}
			for _, want := range []string{"cpus", "mem", "disk", "ports"} {
				if !names[want] {
					t.Errorf("offer from %s lacks %s", o.Hostname, want)
				}
			}
			// Agent i is on 127.0.0.(i+1), as its hostname and its IP.
			if want := "127.0.0." + strconv.Itoa(agentNumber(t, o.AgentID.Value)+1); o.Hostname != want || o.URL.Address.IP != want || o.URL.Address.Hostname != want {
				t.Errorf("agent %s offered as %q, URL %+v; want %s", o.AgentID.Value, o.Hostname, o.URL.Address, want)
			}
			agents[o.AgentID.Value] = true
		}
	}
	if len(agents) != 2 {
		t.Fatalf("offers from %d agents, want 2", len(agents))
	}
}

// TestBadCalls: malformed or unauthorised calls get 4xx with a message and
// the master keeps serving.
func TestBadCalls(t *testing.T) {
	m, url := startMaster(t, 1)
	post := func(ct, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/scheduler", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(b)
	}
	const js = "application/json"
	cases := []struct {
		name, ct, body string
		hdr            map[string]string
		want           int
	}{
		{"no content type", "", `{}`, nil, 415},
		{"unknown content type", "text/plain", `{}`, nil, 415},
		{"empty body", js, ``, nil, 400},
		{"not json", js, `{"type":`, nil, 400},
		{"garbage protobuf", "application/x-protobuf", "\xff\xff\xff\xff", nil, 400},
		{"no type", js, `{}`, nil, 400},
		{"subscribe without info", js, `{"type":"SUBSCRIBE"}`, nil, 400},
		{"subscribe without name", js, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u"}}}`, nil, 400},
		{"subscribe bad role", js, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","role":"../x"}}}`, nil, 400},
		{"call without framework", js, `{"type":"REVIVE"}`, nil, 400},
		{"not subscribed", js, `{"type":"REVIVE","framework_id":{"value":"nobody"}}`, nil, 403},
		{"accept not acceptable", js, `{}`, map[string]string{"Accept": "text/html"}, 406},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := post(c.ct, c.body, c.hdr)
			if code != c.want || strings.TrimSpace(msg) == "" {
				t.Errorf("got %d %q, want %d with a message", code, msg, c.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(url + "/api/v1/scheduler")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", resp.StatusCode)
		}
	})
	t.Run("wrong stream id", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/scheduler", strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`))
		req.Header.Set("Content-Type", js)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sub struct {
			Subscribed struct {
				FrameworkID struct{ Value string } `json:"framework_id"`
			}
		}
		_ = json.Unmarshal(readRecord(t, bufio.NewReader(resp.Body)), &sub)
		fid := sub.Subscribed.FrameworkID.Value
		code, msg := post(js, `{"type":"REVIVE","framework_id":{"value":"`+fid+`"}}`, map[string]string{"Mesos-Stream-Id": "wrong"})
		if code != 400 || !strings.Contains(msg, "stream ID") {
			t.Errorf("wrong stream id: %d %q", code, msg)
		}
		code, _ = post(js, `{"type":"REVIVE","framework_id":{"value":"`+fid+`"}}`, map[string]string{"Mesos-Stream-Id": resp.Header.Get("Mesos-Stream-Id")})
		if code != http.StatusAccepted {
			t.Errorf("REVIVE with the right stream id: %d", code)
		}
		code, msg = post(js, `{"type":"ACKNOWLEDGE","framework_id":{"value":"`+fid+`"},"acknowledge":{"agent_id":{"value":"x"},"task_id":{"value":"t"},"uuid":"AAAA"}}`, map[string]string{"Mesos-Stream-Id": resp.Header.Get("Mesos-Stream-Id")})
		if code != 400 || msg == "" {
			t.Errorf("bad ack: %d %q", code, msg)
		}
	})
	// Still serving.
	resp, err := http.Get(url + "/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Agents []struct{ Up bool } }
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if len(st.Agents) != 1 || !st.Agents[0].Up {
		t.Errorf("state after bad calls: %+v", st)
	}
	// The executor API validates too.
	ea := m.State().Agents[0].ExecutorAPI
	req, _ := http.NewRequest(http.MethodPost, "http://"+ea+"/api/v1/executor", strings.NewReader(`{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{}}`))
	req.Header.Set("Content-Type", js)
	eresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(eresp.Body)
	eresp.Body.Close()
	if eresp.StatusCode != 400 || len(b) == 0 {
		t.Errorf("unknown executor: %d %q", eresp.StatusCode, b)
	}
}
