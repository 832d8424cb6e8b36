package nodetask

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func valid() Task {
	return Task{Framework: "riak", Cluster: "c1", Node: "riak-c1-1", NodeName: "riak-c1-1@127.0.0.2", Flavor: FlavorDevnode,
		ZooKeeper: "127.0.0.1:2181", Host: "127.0.0.2", Ports: Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
}

func TestRoundTrip(t *testing.T) {
	b, err := Marshal(valid())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil || got.Ports.Erlpmd != 31004 || got.Version != Version {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestInvalid(t *testing.T) {
	for name, mut := range map[string]func(*Task){
		"flavor":           func(t *Task) { t.Flavor = "x" },
		"node name":        func(t *Task) { t.NodeName = "nohost" },
		"node name chars":  func(t *Task) { t.NodeName = "a b@host" },
		"node name length": func(t *Task) { t.NodeName = "a@" + strings.Repeat("h", 300) },
		"cluster":          func(t *Task) { t.Cluster = "../etc" },
		"port":             func(t *Task) { t.Ports.Erlpmd = 0 },
		"host":             func(t *Task) { t.Host = "a b" },
		"tarball":          func(t *Task) { t.Flavor = FlavorRiak },
		"replaces":         func(t *Task) { t.Replaces = "nohost" },
		"replaces itself":  func(t *Task) { t.Replaces = t.NodeName },
	} {
		tk := valid()
		mut(&tk)
		if _, err := Marshal(tk); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, bad := range []string{"", "{", `{"version":1,"bogus":1}`, strings.Repeat(" ", 2<<20)} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("Unmarshal(%.20q) accepted", bad)
		}
	}
}

func TestMessageRoundTripAndValidation(t *testing.T) {
	m, err := ParseMessage(Message{Op: OpLeave, TaskID: "t1"}.Marshal())
	if err != nil || m.Op != OpLeave || m.TaskID != "t1" || m.Version != Version {
		t.Fatalf("round trip: %+v %v", m, err)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"version":1,"op":"explode","task_id":"t"}`, `{"version":2,"op":"leave","task_id":"t"}`, `{"version":1,"op":"leave"}`,
		`{"version":1,"op":"check-config","task_id":"t"}`} {
		if _, err := ParseMessage([]byte(bad)); err == nil {
			t.Errorf("ParseMessage(%q) accepted", bad)
		}
	}
}

func TestCheckConfigMessage(t *testing.T) {
	m, err := ParseMessage(Message{Op: OpCheckConfig, TaskID: "t1", Generation: 4, RiakConf: "ring_size = 64\n"}.Marshal())
	if err != nil || m.Op != OpCheckConfig || m.Generation != 4 || m.RiakConf != "ring_size = 64\n" {
		t.Fatalf("round trip: %+v %v", m, err)
	}
	big := Message{Op: OpCheckConfig, TaskID: "t1", Generation: 4, RiakConf: strings.Repeat("x", MaxTemplateSize+1)}.Marshal()
	if _, err := ParseMessage(big); err == nil {
		t.Error("oversized template accepted")
	}
}

func TestStatusRoundTrip(t *testing.T) {
	in := Status{NodeName: "a@10.0.0.1", Ready: true, TransfersPending: true, Transfers: strings.Repeat("t", MaxStatusText+100),
		ConfigCheck: &ConfigCheck{Generation: 3, Error: "Cuttlefish failed!"}}
	out, ok, err := ParseStatus(MarshalStatus(in))
	if err != nil || !ok || !out.Ready || !out.TransfersPending || len(out.Transfers) != MaxStatusText+3 ||
		out.ConfigCheck == nil || out.ConfigCheck.Generation != 3 || out.ConfigCheck.OK || out.ConfigCheck.Error != "Cuttlefish failed!" {
		t.Fatalf("round trip: %+v %v %v", out, ok, err)
	}
	if _, ok, err := ParseStatus(nil); ok || err != nil {
		t.Errorf("empty data: %v %v", ok, err)
	}
	for _, bad := range []string{"{", `{"transfers": 3}`, strings.Repeat(" ", 65<<10)} {
		if _, _, err := ParseStatus([]byte(bad)); err == nil {
			t.Errorf("ParseStatus(%.20q) accepted", bad)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(MarshalStatus(Status{NodeName: "a@h", Ready: true, ConfigCheck: &ConfigCheck{Generation: 1, OK: true}}))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok, err := ParseStatus(data)
		if err == nil && ok {
			if again, _, err := ParseStatus(MarshalStatus(s)); err != nil || again.Ready != s.Ready {
				t.Fatalf("re-encoded status: %+v %v", again, err)
			}
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	f.Add(Message{Op: OpLeave, TaskID: "t1"}.Marshal())
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err == nil && (m.Op != OpLeave || m.TaskID == "") {
			t.Fatalf("accepted an invalid message %+v", m)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	b, _ := Marshal(valid())
	f.Add(b)
	riak := valid()
	riak.Flavor, riak.RiakTarball, riak.Join = FlavorRiak, "http://h/riak.tar.gz", "riak-c1-2@127.0.0.3"
	riak.RiakConf, riak.AdvancedConfig, riak.Generation = "nodename = {{.NodeName}}\n", "[].", 7
	b, _ = Marshal(riak)
	f.Add(b)
	f.Add([]byte(`{"version":1,"bogus":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Unmarshal(data)
		if err != nil {
			return
		}
		if verr := tk.Validate(); verr != nil {
			t.Fatalf("Unmarshal accepted a task Validate rejects: %v", verr)
		}
		if !json.Valid(data) {
			t.Fatalf("Unmarshal accepted %q, which is not one JSON value", data)
		}
		b1, err := Marshal(tk)
		if err != nil {
			t.Fatalf("accepted %+v does not marshal: %v", tk, err)
		}
		tk2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("marshalled %s does not unmarshal: %v", b1, err)
		}
		if !reflect.DeepEqual(tk, tk2) {
			t.Fatalf("round trip changed the task:\n%+v\n%+v", tk, tk2)
		}
	})
}
