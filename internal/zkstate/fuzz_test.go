package zkstate

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzRecord is the property every record decoder must have: any znode
// data gives a record or an ErrUnknownVersion/ErrInvalidRecord error naming
// the path, never a panic; a record it accepts re-encodes, decodes again to
// the same value, and encodes to the same bytes.
func fuzzRecord[T any, P recordPtr[T]](f *testing.F, paths []string, seeds []string) {
	for _, p := range paths {
		for _, s := range seeds {
			f.Add(p, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, p string, data []byte) {
		rec, err := Decode[T, P](p, data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("Decode error %v is neither ErrInvalidRecord nor ErrUnknownVersion", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("Decode error %q does not name the path %q", err, p)
			}
			return
		}
		b1, err := Encode[T, P](rec)
		if err != nil {
			t.Fatalf("accepted %+v does not encode: %v", rec, err)
		}
		rec2, err := Decode[T, P](p, b1)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b1, err)
		}
		b2, err := Encode[T, P](rec2)
		if err != nil {
			t.Fatalf("re-decoded %+v does not encode: %v", rec2, err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the encoding:\n%s\n%s", b1, b2)
		}
		rec3, err := Decode[T, P](p, b2)
		if err != nil || !reflect.DeepEqual(rec2, rec3) {
			t.Fatalf("round trip changed the record: %+v, %+v (%v)", rec2, rec3, err)
		}
	})
}

func FuzzDecodeCluster(f *testing.F) {
	fuzzRecord[ClusterRecord](f, []string{clusterP, "/x/", "", "c1"}, []string{
		`{"version":1,"name":"c1","generation":3,"riak_conf":"x","node_resources":{"cpus":1,"mem_mb":1024,"disk_mb":2048},"constraints":[["hostname","UNIQUE"],["rack","CLUSTER","r1"]]}`,
		`{"version":1,"name":"c1","future":true}`,
		`{"version":1,"name":"c1","constraints":[["rack","LIKE","r[12]"],["rack","MAX_PER","2"]],"advanced_config":"[]."}`,
		`{"version":1,"name":"c1","constraints":[["hostname"]]}`,
		`{"version":1,"name":"c1","node_resources":{"cpus":-1}}`,
		`{"version":2,"name":"c1"}`,
		`{"version":"1","name":"c1"}`,
		`{"name":"c1"}`,
		`null`,
		`[1]`,
	})
}

func FuzzDecodeNode(f *testing.F) {
	fuzzRecord[NodeRecord](f, []string{nodeP, "/a/nodes/n1"}, []string{
		`{"version":1,"cluster":"c1","name":"n1","riak_node_name":"riak-c1-n1@h1","ports":{"pb":31000,"http":31001},"desired_state":"running","observed_state":"pending"}`,
		`{"version":1,"cluster":"c1","name":"n1","ports":{"pb":0},"desired_state":"stopped","observed_state":"stopped"}`,
		`{"version":1,"cluster":"c1","name":"n1","riak_node_name":"riak-c1-n1@10.0.0.1","generation":4,"task_id":"c1.n1.1","agent_id":"a1","hostname":"agent-1","persistence_id":"c1-n1-1","reserved":{"cpus":0.5,"mem_mb":512,"disk_mb":1024},"host":"10.0.0.1","message":"ok","ports":{"pb":31000,"http":31001,"handoff":31002,"disterl":31003,"erlpmd":31004},"desired_state":"removed","observed_state":"leaving"}`,
		`{"version":1,"cluster":"c1","name":"n1","ports":{"pb":65536},"desired_state":"running","observed_state":"pending"}`,
		`{"version":1,"cluster":"c2","name":"n1","desired_state":"running","observed_state":"pending"}`,
		`{"version":7}`,
	})
}

func FuzzDecodeLive(f *testing.F) {
	fuzzRecord[LiveRecord](f, []string{liveP}, []string{
		`{"version":1,"name":"n1","host":"127.0.0.1","pb_port":8087,"http_port":8098}`,
		`{"version":1,"name":"n1","host":"agent-1.example","pb_port":8087,"http_port":8098}`,
		`{"version":1,"name":"n1","host":"::1","pb_port":8087,"http_port":8098}`,
		`{"version":1,"name":"n1","host":"h:1","pb_port":1,"http_port":2}`,
		`{"name":"n1","host":"h","pb_port":1,"http_port":2}`,
	})
}

func FuzzDecodeErlpmd(f *testing.F) {
	fuzzRecord[ErlpmdRecord](f, []string{erlpmdP}, []string{
		`{"version":1,"name":"riak-c1-n1@h1","host":"10.0.0.1","port":40000,"node_type":77,"protocol":0,"highest_version":6,"lowest_version":5,"extra":"AAE=","creation":12345}`,
		`{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"extra":""}`,
		`{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"highest_version":5,"lowest_version":6}`,
		`{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"extra":"!!"}`,
	})
}

// FuzzPlainRecords covers the two plain-text znodes, read as
// Framework.FrameworkID and Framework.URI do: never a panic, and what is
// accepted has the promised shape.
func FuzzPlainRecords(f *testing.F) {
	for _, s := range []string{"0ae2c1d5-7b0e-4f8c-9a0e-2a9c3e1b1f00-0001", "http://10.0.0.1:9090", "https://sched.example/api", " x\n", "", "http://", "ftp://h/"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := strings.TrimSpace(string(data))
		if validateFrameworkID(s) == nil && (len(s) == 0 || len(s) > 255 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })) {
			t.Fatalf("framework ID %q accepted", s)
		}
		if validateURI(s) == nil && !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(strings.ToLower(s), "http") {
			t.Fatalf("URI %q accepted", s)
		}
	})
}
