package pbserver

import (
	"bytes"
	"strings"
	"testing"
	"time"

	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
	protov2 "google.golang.org/protobuf/proto"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/protocol"
)

// The hand-written encoders must produce exactly what protobuf-go
// produces for the equivalent rpb message.
func TestObjectRespEncodingMatchesProto(t *testing.T) {
	lm := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	sibs := []kv.Content{
		{
			Value: []byte("hello"), ContentType: "text/plain", Charset: "utf-8", ContentEncoding: "gzip",
			VTag: "vtag1", LastMod: lm,
			UserMeta: []kv.Pair{{Key: "m1", Value: []byte("v1")}, {Key: "m2", Value: nil}},
			Links:    []kv.Link{{Bucket: "b", Key: "k", Tag: "t"}, {Bucket: "b2", Key: "k2"}},
			Indexes:  []kv.Pair{{Key: "n_int", Value: []byte("7")}},
		},
		{Value: []byte{}, VTag: "vtag2", LastMod: lm.Add(time.Second), Deleted: true},
	}
	vclock := []byte{1, 2, 3}
	rpbContent := func(c kv.Content, head bool) *rpbRiakKV.RpbContent {
		out := &rpbRiakKV.RpbContent{Value: c.Value}
		if head || out.Value == nil {
			out.Value = []byte{}
		}
		str := func(s string) []byte {
			if s == "" {
				return nil
			}
			return []byte(s)
		}
		out.ContentType, out.Charset, out.ContentEncoding, out.Vtag = str(c.ContentType), str(c.Charset), str(c.ContentEncoding), str(c.VTag)
		for _, l := range c.Links {
			out.Links = append(out.Links, &rpbRiakKV.RpbLink{Bucket: []byte(l.Bucket), Key: []byte(l.Key), Tag: []byte(l.Tag)})
		}
		sec, usec := uint32(c.LastMod.Unix()), uint32(c.LastMod.Nanosecond()/1000)
		out.LastMod, out.LastModUsecs = &sec, &usec
		for _, p := range c.UserMeta {
			out.Usermeta = append(out.Usermeta, &rpbRiak.RpbPair{Key: []byte(p.Key), Value: append([]byte{}, p.Value...)})
		}
		for _, p := range c.Indexes {
			out.Indexes = append(out.Indexes, &rpbRiak.RpbPair{Key: []byte(p.Key), Value: p.Value})
		}
		if c.Deleted {
			out.Deleted = kv.Ptr(true)
		}
		return out
	}
	for _, head := range []bool{false, true} {
		got := appendObjectResp(nil, protocol.CodePutResp, sibs, head, vclock, "genkey")
		want := &rpbRiakKV.RpbPutResp{Vclock: vclock, Key: []byte("genkey")}
		for _, c := range sibs {
			want.Content = append(want.Content, rpbContent(c, head))
		}
		wantFrame, err := protocol.MarshalFrame(protocol.CodePutResp, want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantFrame) {
			t.Fatalf("head=%v:\n got %x\nwant %x", head, got, wantFrame)
		}
	}
	if got, want := appendObjectResp(nil, protocol.CodeGetResp, nil, false, nil, ""), protocol.AppendHeader(nil, protocol.CodeGetResp, 0); !bytes.Equal(got, want) {
		t.Fatalf("empty get resp %x", got)
	}
	unchanged, _ := protocol.MarshalFrame(protocol.CodeGetResp, &rpbRiakKV.RpbGetResp{Unchanged: kv.Ptr(true)})
	if got := appendUnchangedResp(nil); !bytes.Equal(got, unchanged) {
		t.Fatalf("unchanged %x, want %x", got, unchanged)
	}
}

func TestListAndIndexEncodingMatchesProto(t *testing.T) {
	check := func(name string, got []byte, code protocol.Code, m proto.Message) {
		t.Helper()
		want, err := protocol.MarshalFrame(code, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", name, got, want)
		}
	}
	check("keys", appendListResp(nil, protocol.CodeListKeysResp, []string{"a", "", "ccc"}, false), protocol.CodeListKeysResp,
		&rpbRiakKV.RpbListKeysResp{Keys: [][]byte{[]byte("a"), {}, []byte("ccc")}})
	check("keys done", appendListResp(nil, protocol.CodeListKeysResp, nil, true), protocol.CodeListKeysResp,
		&rpbRiakKV.RpbListKeysResp{Done: kv.Ptr(true)})
	check("buckets", appendListResp(nil, protocol.CodeListBucketsResp, []string{"b"}, false), protocol.CodeListBucketsResp,
		&rpbRiakKV.RpbListBucketsResp{Buckets: [][]byte{[]byte("b")}})
	rs := []kv.IndexResult{{Term: "1", Key: "k1"}, {Term: "22", Key: "k2"}}
	check("2i keys", appendIndexResp(nil, rs, false, "cont", false), protocol.CodeIndexResp,
		&rpbRiakKV.RpbIndexResp{Keys: [][]byte{[]byte("k1"), []byte("k2")}, Continuation: []byte("cont")})
	check("2i terms", appendIndexResp(nil, rs, true, "", true), protocol.CodeIndexResp,
		&rpbRiakKV.RpbIndexResp{Results: []*rpbRiak.RpbPair{{Key: []byte("1"), Value: []byte("k1")}, {Key: []byte("22"), Value: []byte("k2")}}, Done: kv.Ptr(true)})
}

func TestPropsConversion(t *testing.T) {
	pb := &rpbRiak.RpbBucketProps{
		NVal: kv.Ptr[uint32](2), AllowMult: kv.Ptr(true), R: kv.Ptr(uint32(kv.QuorumOne)), Dw: kv.Ptr[uint32](0),
		Precommit:   []*rpbRiak.RpbCommitHook{{Modfun: &rpbRiak.RpbModFun{Module: []byte("m"), Function: []byte("f")}}, {Name: []byte("js")}},
		ChashKeyfun: &rpbRiak.RpbModFun{Module: []byte("mymod"), Function: []byte("myfun")},
		Backend:     []byte("bitcask"), Search: kv.Ptr(true), SearchIndex: []byte("idx"),
		Repl: rpbRiak.RpbBucketProps_REALTIME.Enum(), Consistent: kv.Ptr(false), WriteOnce: kv.Ptr(false),
	}
	u, err := propsFromRpb(pb)
	if err != nil {
		t.Fatal(err)
	}
	if *u.NVal != 2 || !*u.AllowMult || *u.R != kv.QuorumOne || *u.DW != 0 || u.W != nil || u.LastWriteWins != nil {
		t.Fatalf("update %+v", u)
	}
	p := kv.DefaultProps(false).Apply(u)
	out := propsToRpb(p)
	if out.GetNVal() != 2 || !out.GetAllowMult() || out.GetR() != uint32(kv.QuorumOne) || out.GetW() != uint32(kv.QuorumQuorum) {
		t.Fatalf("core props %v", out)
	}
	if !out.GetHasPrecommit() || len(out.Precommit) != 2 || string(out.Precommit[0].Modfun.Module) != "m" || string(out.Precommit[1].Name) != "js" || out.GetHasPostcommit() {
		t.Fatalf("hooks %v", out.Precommit)
	}
	if string(out.ChashKeyfun.Module) != "mymod" || string(out.Linkfun.Module) != "riak_kv_wm_link_walker" {
		t.Fatalf("modfuns %v %v", out.ChashKeyfun, out.Linkfun)
	}
	if string(out.Backend) != "bitcask" || !out.GetSearch() || string(out.SearchIndex) != "idx" || out.GetRepl() != rpbRiak.RpbBucketProps_REALTIME ||
		out.Consistent == nil || out.GetConsistent() || out.Datatype != nil {
		t.Fatalf("static props %v", out)
	}
	// has_precommit with no hooks clears them.
	u2, err := propsFromRpb(&rpbRiak.RpbBucketProps{HasPrecommit: kv.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if out := propsToRpb(p.Apply(u2)); out.GetHasPrecommit() || len(out.Precommit) != 0 {
		t.Fatalf("hooks not cleared: %v", out.Precommit)
	}
	// The encoding is valid RpbBucketProps (required modfun fields set).
	if _, err := protov2.Marshal(proto.MessageV2(out)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*rpbRiak.RpbBucketProps{
		{Consistent: kv.Ptr(true)},
		{WriteOnce: kv.Ptr(true)},
	} {
		if _, err := propsFromRpb(bad); err == nil || !strings.Contains(err.Error(), "unsupported bucket property") {
			t.Errorf("%v: %v, want unsupported", bad, err)
		}
	}
	// repl true/false round trip too.
	for _, m := range []rpbRiak.RpbBucketProps_RpbReplMode{rpbRiak.RpbBucketProps_FALSE, rpbRiak.RpbBucketProps_TRUE, rpbRiak.RpbBucketProps_FULLSYNC} {
		u, err := propsFromRpb(&rpbRiak.RpbBucketProps{Repl: m.Enum()})
		if err != nil {
			t.Fatal(err)
		}
		if got := propsToRpb(kv.DefaultProps(false).Apply(u)).GetRepl(); got != m {
			t.Errorf("repl %v round trip: %v", m, got)
		}
	}
}
