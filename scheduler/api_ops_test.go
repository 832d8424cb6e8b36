package scheduler

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// realMemberStatus is riak_core_console:member_status's output as Riak
// KV 3.2.3 printed it on this machine (rows "~-8s  ~5.1f%      --      ~s",
// with pending changes "~-8s  ~5.1f%    ~5.1f%    ~s"; the node names
// unquoted), then nodetool's ok; a quoted name (as ~p prints an atom
// that needs quotes) is read too.
const realMemberStatus = `================================= Membership ==================================
Status     Ring    Pending    Node
-------------------------------------------------------------------------------
valid      34.4%      --      riak-c-1@10.0.0.2
leaving    32.8%     0.0%    riak-c-2@10.0.0.3
joining     0.0%    32.8%    riak-c-4@10.0.0.5
valid     100.0%     34.4%    dev1@127.0.0.1
down       32.8%      --      'old@10.0.0.4'
-------------------------------------------------------------------------------
Valid:2 / Leaving:1 / Exiting:0 / Joining:1 / Down:1
ok`

func TestParseMemberStatus(t *testing.T) {
	got := ParseMemberStatus(realMemberStatus)
	want := []MemberRow{
		{"riak-c-1@10.0.0.2", "valid", 34.4, "--"},
		{"riak-c-2@10.0.0.3", "leaving", 32.8, "0.0%"},
		{"riak-c-4@10.0.0.5", "joining", 0, "32.8%"},
		{"dev1@127.0.0.1", "valid", 100, "34.4%"},
		{"old@10.0.0.4", "down", 32.8, "--"},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if rows := ParseMemberStatus("Node is not running!\n"); len(rows) != 0 {
		t.Errorf("rows of a node that is down: %+v", rows)
	}
}

func TestParseBucketTypeList(t *testing.T) {
	got := ParseBucketTypeList("default (active)\ncounters (active)\nmaps (not active)\nok\n")
	want := []BucketType{{"default", true}, {"counters", true}, {"maps", false}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("types %+v, want %+v", got, want)
	}
}

// TestRiakRefusal: riak admin output ending in nodetool's "error" is a
// refusal with Riak's words on one line; JSON Riak cannot read is a 400.
func TestRiakRefusal(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		exit      int
		status    int
		msg       string
	}{
		{"created", "counters created\n\nWARNING: After activating counters, nodes in this cluster\ncan no longer be downgraded to a version of Riak prior to 2.0\nok", 0, 0, ""},
		{"already active", "Error creating bucket type counters:\nalready_active\nerror", 0, http.StatusConflict, "Error creating bucket type counters: already_active"},
		{"no props", "Cannot create bucket type x: no props field found in json\nerror", 0, http.StatusBadRequest, "Cannot create bucket type x: no props field found in json"},
		{"node down", "Node is not running!", 1, http.StatusConflict, "Node is not running!"},
		{"activate of no type", "nosuchtype is not an existing bucket type\n{error,undefined}", 0, http.StatusConflict, "nosuchtype is not an existing bucket type"},
		// Riak KV 3.2.3's answer to an update of a counter type to a set.
		{"datatype change", "Error updating bucket type counters:\nset not supported for bucket datatype property\nerror", 0, http.StatusConflict,
			"Error updating bucket type counters: set not supported for bucket datatype property"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := riakRefusal(tc.out, tc.exit)
			var ae *APIError
			switch {
			case tc.status == 0 && err != nil:
				t.Errorf("refused: %v", err)
			case tc.status != 0 && (!errors.As(err, &ae) || ae.Status != tc.status || ae.Message != tc.msg):
				t.Errorf("error %v, want %d %q", err, tc.status, tc.msg)
			}
		})
	}
}

func TestTail(t *testing.T) {
	var content strings.Builder
	for i := range 5000 {
		content.WriteString(strings.Repeat("x", i%50) + "|line\n")
	}
	data := content.String()
	reads := 0
	read := func(off, length int64) (string, int64, error) {
		reads++
		return data[off : off+length], off, nil
	}
	got, err := tail(read, int64(len(data)), 3)
	lines := strings.Split(data, "\n")
	want := strings.Join(lines[len(lines)-4:], "\n")
	if err != nil || got != want {
		t.Errorf("tail 3 = %q, want %q (%v)", got, want, err)
	}
	if reads != 1 {
		t.Errorf("%d reads for 3 lines, want 1", reads)
	}
	all, _ := tail(read, int64(len(data)), 10000)
	if all != data {
		t.Errorf("tail of more lines than the file has: %d bytes, want the whole %d", len(all), len(data))
	}
	if s, _ := tail(read, 0, 10); s != "" {
		t.Errorf("tail of an empty file: %q", s)
	}
}

func TestLogPath(t *testing.T) {
	for _, tc := range []struct{ flavor, file, want, err string }{
		{"riak", "console", "/sb/log/console.log", ""},
		{"riak", "crash", "/sb/log/crash.log", ""},
		{"riak", "stdout", "/sb/stdout", ""},
		{"devnode", "console", "/sb/node.stderr", ""},
		{"devnode", "error", "", "writes no error.log"},
		{"riak", "../etc/passwd", "", "want one of"},
	} {
		got, err := logPath(tc.flavor, "/sb", tc.file)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("logPath(%s, %s) = %q, %v; want %q, %q", tc.flavor, tc.file, got, err, tc.want, tc.err)
		}
	}
}

func TestAgentReservationsHolds(t *testing.T) {
	var a agentReservations
	_ = json.Unmarshal([]byte(`{"id":"a1","reserved_resources":{"riak":{"cpus":0,"mem":0,"ports":"[]"},"other":{"cpus":1}}}`), &a)
	if a.holds("riak") || !a.holds("other") {
		t.Errorf("holds: riak %v (want false), other %v (want true)", a.holds("riak"), a.holds("other"))
	}
	var b agentReservations
	_ = json.Unmarshal([]byte(`{"id":"a1","reserved_resources":{"riak":{"disk":512}}}`), &b)
	if !b.holds("riak") {
		t.Error("a reserved volume does not count as held")
	}
}

func TestPlanResize(t *testing.T) {
	have := zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 512}
	for _, tc := range []struct {
		name               string
		want               zkstate.Resources
		free, fmem, fdisk  float64
		cpus, mem, disk    float64
		cannot             string
		reservedMem, rdisk float64
	}{
		{"same", have, 0, 0, 0, 0, 0, 0, "", 1024, 512},
		{"grow mem", zkstate.Resources{CPUs: 1, MemMB: 1536, DiskMB: 512}, 0, 512, 0, 0, 512, 0, "", 1536, 512},
		{"shrink both", zkstate.Resources{CPUs: 0.5, MemMB: 512, DiskMB: 512}, 0, 0, 0, -0.5, -512, 0, "", 512, 512},
		{"no room", zkstate.Resources{CPUs: 1, MemMB: 4096, DiskMB: 512}, 4, 1000, 9999, 0, 0, 0,
			"needs +0 cpus, +3072 MB mem and +0 MB disk more, agent h1 offers 4 cpus, 1000 MB mem and 9999 MB disk free; it keeps 1 cpus, 1024 MB mem and 512 MB disk", 1024, 512},
		{"grow disk", zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}, 0, 0, 512, 0, 0, 512, "", 1024, 1024},
		{"shrink disk", zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 256}, 0, 0, 0, 0, 0, -256, "", 1024, 256},
		{"no room for disk", zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 2048}, 8, 8192, 1000, 0, 0, 0,
			"needs +0 cpus, +0 MB mem and +1536 MB disk more, agent h1 offers 8 cpus, 8192 MB mem and 1000 MB disk free", 1024, 512},
		{"grow mem, shrink disk", zkstate.Resources{CPUs: 1, MemMB: 2048, DiskMB: 128}, 0, 1024, 0, 0, 1024, -384, "", 2048, 128},
	} {
		st := planResize(have, tc.want, tc.free, tc.fmem, tc.fdisk, "h1")
		if st.CPUs != tc.cpus || st.Mem != tc.mem || st.Disk != tc.disk || st.Reserved.MemMB != tc.reservedMem || st.Reserved.DiskMB != tc.rdisk ||
			(tc.cannot == "") != (st.CannotGrow == "") || !strings.Contains(st.CannotGrow, tc.cannot) {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}

// TestResizeOps: the disk difference resizes the volume in place, the
// growth reserved first and the surplus unreserved last.
func TestResizeOps(t *testing.T) {
	s := &Scheduler{cfg: Config{Role: "riak", Principal: "rmf"}}
	n := zkstate.NodeRecord{Name: "riak-1", PersistenceID: "c-riak-1-1", Reserved: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 512},
		Ports: zkstate.Ports{PB: 1, HTTP: 2, Handoff: 3, Disterl: 4, Erlpmd: 5}}
	_, vol := s.nodeResources(n)
	types := func(ops calls.OfferOperations) (out []string) {
		for _, op := range ops {
			out = append(out, op.Type.String())
		}
		return out
	}
	grow := s.resizeOps(resizeStep{CPUs: 1, Disk: 512}, vol[0])
	if got := types(grow); !slices.Equal(got, []string{"RESERVE", "GROW_VOLUME"}) {
		t.Fatalf("grow: %v", got)
	}
	g := grow[1].GrowVolume
	if !g.Volume.Equivalent(vol[0]) || g.Addition.GetScalar().GetValue() != 512 || g.Addition.ReservationRole() != "riak" ||
		g.Addition.IsPersistentVolume() || !resources.Contains(grow[0].Reserve.Resources, g.Addition) {
		t.Errorf("grow volume %v by %v after reserving %v", g.Volume, g.Addition, grow[0].Reserve.Resources)
	}
	shrink := s.resizeOps(resizeStep{Mem: 512, Disk: -256}, vol[0])
	if got := types(shrink); !slices.Equal(got, []string{"RESERVE", "SHRINK_VOLUME", "UNRESERVE"}) {
		t.Fatalf("shrink: %v", got)
	}
	if sv, un := shrink[1].ShrinkVolume, shrink[2].Unreserve.Resources; !sv.Volume.Equivalent(vol[0]) || sv.Subtract.GetValue() != 256 ||
		len(un) != 1 || un[0].Name != "disk" || un[0].GetScalar().GetValue() != 256 || un[0].ReservationRole() != "riak" {
		t.Errorf("shrink volume %v by %v, then unreserve %v", sv.Volume, sv.Subtract, un)
	}
	if ops := s.resizeOps(resizeStep{}, vol[0]); len(ops) != 0 {
		t.Errorf("no change: %v", types(ops))
	}
}

// TestOrphanOpsKeepsAResizedVolume: a volume whose size its node's record
// does not match (a resize that did not apply) is never destroyed as an
// orphan; one no node holds is.
func TestOrphanOpsKeepsAResizedVolume(t *testing.T) {
	s := fuzzScheduler()
	o := seedOffers()[1] // agent a2 holds node 1's 1024 MB volume
	n := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", PersistenceID: "c1-riak-c1-1-1",
		Reserved: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 2048},
		Ports:    zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
	plain, vol := s.nodeResources(n)
	for _, op := range s.orphanOps(o, append(plain, vol...)) {
		if op.Destroy != nil {
			t.Errorf("destroys %v held by a node record of another size", op.Destroy.Volumes)
		}
	}
	ops := s.orphanOps(o, nil)
	if len(ops) == 0 || ops[0].Destroy == nil {
		t.Errorf("an unheld volume is not destroyed: %v", ops)
	}
}
