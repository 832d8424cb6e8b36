package mesoslocal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	execapi "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// FuzzDecodeCall is the front of POST /api/v1/scheduler and
// /api/v1/executor: Content-Type and Accept negotiation, then the body
// decoded into a scheduler or executor call. Any request gets a call or a
// 4xx answer, never a panic.
func FuzzDecodeCall(f *testing.F) {
	subscribe, _ := (&scheduler.Call{Type: scheduler.Call_SUBSCRIBE}).Marshal()
	exsub, _ := (&execapi.Call{Type: execapi.Call_SUBSCRIBE}).Marshal()
	for _, s := range []struct {
		ct, accept, body string
		executor         bool
	}{
		{"application/json", "", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"riak","role":"riak","checkpoint":true}}}`, false},
		{"application/json", "application/json", `{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"RESERVE","reserve":{"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}}]}}`, false},
		{"application/json", "*/*", `{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":5}}}`, false},
		{"application/x-protobuf", "application/x-protobuf", string(subscribe), false},
		{"application/json; charset=utf-8", "text/html, application/json", `{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{}}`, true},
		{"application/json", "", `{"type":"UPDATE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAECAwQFBgcICQoLDA0ODw=="}}}`, true},
		{"application/x-protobuf", "", string(exsub), true},
		{"text/plain", "", "x", false},
		{"", "", "", true},
	} {
		f.Add(s.ct, s.accept, []byte(s.body), s.executor)
	}
	f.Fuzz(func(t *testing.T, ct, accept string, body []byte, executor bool) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		codec, ok := requestCodec(w, r)
		if !ok {
			if w.Code != http.StatusUnsupportedMediaType && w.Code != http.StatusNotAcceptable {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		if codec.Type == "" {
			t.Fatal("accepted without a response codec")
		}
		var call interface{ Marshal() ([]byte, error) }
		var decoded bool
		if executor {
			var c execapi.Call
			decoded, call = decodeCall(w, r, codec, &c), &c
		} else {
			var c scheduler.Call
			decoded, call = decodeCall(w, r, codec, &c), &c
		}
		if !decoded {
			if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		// JSON does not check proto2 required fields (the handlers do), so
		// marshalling may fail, but it must not panic.
		_, _ = call.Marshal()
	})
}

// FuzzParseResources covers --resources and the agent's port shift: a
// spec gives resources or an error, and agent i's ports lie below agent
// 1's and at or above 1024.
func FuzzParseResources(f *testing.F) {
	for _, s := range []string{DefaultAgentResources, "cpus:4;mem:8192;disk:20000;ports:[31000-31999,33000-33001];gpus(riak):1",
		"cpus:1;ports:[2000-2999]", "cpus(*):1;s:{a,b}", "ports:[5-1]", "cpus(r:1", "cpus:x", "ports:[18446744073709551615]"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, spec string, i uint8) {
		rs, err := ParseResources(spec)
		if err != nil {
			return
		}
		if len(rs) == 0 {
			t.Fatal("no resources and no error")
		}
		agent := int(i%64) + 1
		one, err1 := agentResources(spec, 1)
		rs, err = agentResources(spec, agent)
		if err1 != nil || err != nil { // ports below 1024 (for every agent)
			return
		}
		lowest := ^uint64(0)
		for _, r := range one {
			for _, rg := range r.GetRanges().GetRange() {
				if r.Name == "ports" {
					lowest = min(lowest, rg.Begin)
				}
			}
		}
		for _, r := range rs {
			if r.Name != "ports" {
				continue
			}
			for _, rg := range r.GetRanges().GetRange() {
				if rg.Begin > rg.End || agent > 1 && (rg.End >= lowest || rg.Begin < 1024) {
					t.Fatalf("agent %d: ports %d-%d (agent 1 from %d)", agent, rg.Begin, rg.End, lowest)
				}
			}
		}
	})
}

func FuzzParseAttributes(f *testing.F) {
	for _, s := range []string{"rack:r1;zone:2", "rack:r1", "ports:[1-5]", "a:{x,y}", "bad", "x:", ":y", "a:[5-1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseAttributes(s)
		if err != nil {
			return
		}
		for _, a := range as {
			if !validName(a.Name) {
				t.Fatalf("attribute name %q accepted", a.Name)
			}
		}
	})
}

// FuzzParseCredentials: any file gives credentials or a one-line error;
// what it gives passes the master's own check and every credential can
// be sent in HTTP Basic and matched.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{`{"credentials":[{"principal":"riak","secret":"s"}]}`, "riak s\nops t\n", "riak s\r\n", "",
		`{"credentials":[{"principal":""}]}`, `{"credentials":[`, "a b c", "a:b c", "a b:c", "a s\na t", "{}", " {\"credentials\":null}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		creds, err := ParseCredentials(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if len(creds) == 0 {
			t.Fatal("no credentials and no error")
		}
		if err := checkCredentials(creds); err != nil {
			t.Fatalf("accepted %v: %v", creds, err)
		}
		m := &Master{cfg: Config{Credentials: creds}.withDefaults()}
		m.log = m.cfg.Logger
		for _, c := range creds {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", nil)
			r.SetBasicAuth(c.Principal, c.Secret)
			if p, ok := m.authenticate(httptest.NewRecorder(), r); !ok || p != c.Principal {
				t.Fatalf("credential %+v not accepted (%q, %v)", c, p, ok)
			}
		}
	})
}

// FuzzCheckAddition is GROW_VOLUME's check of the addition to a volume:
// any addition is refused or accepted without a panic, and accepted only
// as positive, non-persistent disk of the volume's role.
func FuzzCheckAddition(f *testing.F) {
	f.Add("disk", "riak", 10.0, false)
	f.Add("disk", "web", 10.0, false)
	f.Add("cpus", "riak", 1.0, false)
	f.Add("disk", "riak", 0.0, false)
	f.Add("disk", "riak", -5.0, true)
	f.Fuzz(func(t *testing.T, name, role string, value float64, persistent bool) {
		resv := func(role string) []mesos.Resource_ReservationInfo {
			return []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: &role}}
		}
		vol := mesos.Resource{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 100}, Reservations: resv("riak"),
			Disk: &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "v1"}, Volume: &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()}}}
		add := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: value}, Reservations: resv(role)}
		if persistent {
			add.Disk = vol.Disk
		}
		err := checkAddition(vol, add)
		if ok := name == "disk" && role == "riak" && value > 0 && !persistent; ok != (err == nil) {
			t.Errorf("checkAddition(%v) = %v", add, err)
		}
	})
}
