package pbserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbDT "github.com/basho/riak-go-client/rpb/riak_dt"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
	protov2 "google.golang.org/protobuf/proto"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// newHandler returns a connection without a socket: handle writes its
// answers to w.
func newHandler(srv *Server, w io.Writer) *conn {
	return &conn{
		srv: srv, svc: srv.Service, log: srv.logger(), w: w,
		ctx: context.Background(), cancel: func() {},
		out: make([]byte, 0, initialOut),
	}
}

// responseTypes gives, for each response code the server encodes, an
// empty rpb message to check the encoding against.
var responseTypes = map[protocol.Code]func() proto.Message{
	protocol.CodeErrorResp:                func() proto.Message { return &rpbRiak.RpbErrorResp{} },
	protocol.CodeGetServerInfoResp:        func() proto.Message { return &rpbRiak.RpbGetServerInfoResp{} },
	protocol.CodeGetClientIDResp:          func() proto.Message { return &rpbRiakKV.RpbGetClientIdResp{} },
	protocol.CodeGetResp:                  func() proto.Message { return &rpbRiakKV.RpbGetResp{} },
	protocol.CodePutResp:                  func() proto.Message { return &rpbRiakKV.RpbPutResp{} },
	protocol.CodeListBucketsResp:          func() proto.Message { return &rpbRiakKV.RpbListBucketsResp{} },
	protocol.CodeListKeysResp:             func() proto.Message { return &rpbRiakKV.RpbListKeysResp{} },
	protocol.CodeIndexResp:                func() proto.Message { return &rpbRiakKV.RpbIndexResp{} },
	protocol.CodeGetBucketResp:            func() proto.Message { return &rpbRiak.RpbGetBucketResp{} },
	protocol.CodeGetBucketKeyPreflistResp: func() proto.Message { return &rpbRiakKV.RpbGetBucketKeyPreflistResp{} },
	protocol.CodeDtFetchResp:              func() proto.Message { return &rpbDT.DtFetchResp{} },
	protocol.CodeDtUpdateResp:             func() proto.Message { return &rpbDT.DtUpdateResp{} },
}

// checkAnswer verifies that out is a complete, well-formed answer to a
// request with the given code and body: at least one frame; every frame
// a valid encoding of a response the request may get; RpbErrorResp or a
// stream end only as the last frame; a streamed answer ended.
func checkAnswer(t testing.TB, code protocol.Code, body, out []byte) {
	t.Helper()
	if len(out) == 0 {
		t.Fatalf("%v: no answer", code)
	}
	m, known := protocol.Lookup(code)
	streams := false
	if known && m.Request && m.Streaming {
		s, err := protocol.RequestStreams(code, body)
		streams = err != nil || s // an undecodable request is answered with one error
	}
	rd := protocol.NewReader(bytes.NewReader(out), 0)
	var frames []protocol.Frame
	for {
		f, err := rd.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%v: answer does not parse: %v", code, err)
		}
		frames = append(frames, f.Clone())
	}
	for i, f := range frames {
		last := i == len(frames)-1
		if f.Code != protocol.CodeErrorResp && (!known || !slices.Contains(m.Responses, f.Code)) {
			t.Fatalf("%v answered with %v", code, f.Code)
		}
		if newMsg, ok := responseTypes[f.Code]; ok {
			if err := protov2.Unmarshal(f.Body, proto.MessageV2(newMsg())); err != nil {
				t.Fatalf("%v: %v does not decode: %v", code, f.Code, err)
			}
		}
		if f.Code == protocol.CodeErrorResp && !last {
			t.Fatalf("%v: RpbErrorResp before the end of the answer", code)
		}
		done, err := protocol.StreamDone(f.Code, f.Body)
		if err != nil {
			t.Fatalf("%v: %v", code, err)
		}
		switch {
		case !streams && len(frames) != 1:
			t.Fatalf("%v: %d frames for a single answer", code, len(frames))
		case streams && !last && done:
			t.Fatalf("%v: stream ended at frame %d of %d", code, i+1, len(frames))
		case streams && last && !done && f.Code != protocol.CodeErrorResp:
			t.Fatalf("%v: stream not ended", code)
		}
	}
}

func seedFrames(t testing.TB) []protocol.Frame {
	mk := func(code protocol.Code, m proto.Message) protocol.Frame {
		b, err := protov2.MarshalOptions{AllowPartial: true}.Marshal(proto.MessageV2(m))
		if err != nil {
			t.Fatal(err)
		}
		return protocol.Frame{Code: code, Body: b}
	}
	tr := func() *bool { return kv.Ptr(true) }
	content := &rpbRiakKV.RpbContent{
		Value: []byte("v"), ContentType: []byte("text/plain"), Charset: []byte("utf-8"),
		Links:    []*rpbRiakKV.RpbLink{{Bucket: []byte("b"), Key: []byte("k2"), Tag: []byte("t")}},
		Usermeta: []*rpbRiak.RpbPair{{Key: []byte("m"), Value: []byte("x")}},
		Indexes:  []*rpbRiak.RpbPair{{Key: []byte("n_int"), Value: []byte("5")}, {Key: []byte("s_bin"), Value: []byte("abc")}},
	}
	return []protocol.Frame{
		{Code: protocol.CodePingReq},
		{Code: protocol.CodeGetServerInfoReq},
		{Code: protocol.CodeGetClientIDReq},
		mk(protocol.CodeSetClientIDReq, &rpbRiakKV.RpbSetClientIdReq{ClientId: []byte("id")}),
		mk(protocol.CodePutReq, &rpbRiakKV.RpbPutReq{Bucket: []byte("b"), Key: []byte("k"), Content: content, ReturnBody: tr()}),
		mk(protocol.CodePutReq, &rpbRiakKV.RpbPutReq{Bucket: []byte("b"), Content: content, ReturnHead: tr(), W: kv.Ptr[uint32](1)}),
		mk(protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("k"), R: kv.Ptr[uint32](2), Head: tr(), Deletedvclock: tr()}),
		mk(protocol.CodeDelReq, &rpbRiakKV.RpbDelReq{Bucket: []byte("b"), Key: []byte("k"), Rw: kv.Ptr[uint32](1)}),
		mk(protocol.CodeListBucketsReq, &rpbRiakKV.RpbListBucketsReq{Stream: tr()}),
		mk(protocol.CodeListBucketsReq, &rpbRiakKV.RpbListBucketsReq{}),
		mk(protocol.CodeListKeysReq, &rpbRiakKV.RpbListKeysReq{Bucket: []byte("b")}),
		mk(protocol.CodeIndexReq, &rpbRiakKV.RpbIndexReq{Bucket: []byte("b"), Index: []byte("n_int"), Qtype: rpbRiakKV.RpbIndexReq_range.Enum(),
			RangeMin: []byte("0"), RangeMax: []byte("9"), ReturnTerms: tr(), MaxResults: kv.Ptr[uint32](1)}),
		mk(protocol.CodeIndexReq, &rpbRiakKV.RpbIndexReq{Bucket: []byte("b"), Index: []byte("$bucket"), Qtype: rpbRiakKV.RpbIndexReq_eq.Enum(), Key: []byte("b"), Stream: tr()}),
		mk(protocol.CodeGetBucketReq, &rpbRiak.RpbGetBucketReq{Bucket: []byte("b")}),
		mk(protocol.CodeSetBucketReq, &rpbRiak.RpbSetBucketReq{Bucket: []byte("b"), Props: &rpbRiak.RpbBucketProps{AllowMult: tr(), Precommit: []*rpbRiak.RpbCommitHook{{Name: []byte("h")}}}}),
		mk(protocol.CodeResetBucketReq, &rpbRiak.RpbResetBucketReq{Bucket: []byte("b")}),
		mk(protocol.CodeGetBucketTypeReq, &rpbRiak.RpbGetBucketTypeReq{Type: []byte("default")}),
		mk(protocol.CodeSetBucketTypeReq, &rpbRiak.RpbSetBucketTypeReq{Type: []byte("default"), Props: &rpbRiak.RpbBucketProps{NVal: kv.Ptr[uint32](3)}}),
		mk(protocol.CodeGetBucketKeyPreflistReq, &rpbRiakKV.RpbGetBucketKeyPreflistReq{Bucket: []byte("b"), Key: []byte("k")}),
		{Code: protocol.CodeMapRedReq, Body: []byte("x")},
		{Code: protocol.CodeDtFetchReq},
		mk(protocol.CodeDtFetchReq, &rpbDT.DtFetchReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte("maps")}),
		mk(protocol.CodeDtUpdateReq, &rpbDT.DtUpdateReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte("maps"), ReturnBody: tr(),
			Op: &rpbDT.DtOp{MapOp: &rpbDT.MapOp{
				Removes: []*rpbDT.MapField{{Name: []byte("x"), Type: rpbDT.MapField_FLAG.Enum()}},
				Updates: []*rpbDT.MapUpdate{
					{Field: &rpbDT.MapField{Name: []byte("c"), Type: rpbDT.MapField_COUNTER.Enum()}, CounterOp: &rpbDT.CounterOp{Increment: kv.Ptr[int64](2)}},
					{Field: &rpbDT.MapField{Name: []byte("m"), Type: rpbDT.MapField_MAP.Enum()}, MapOp: &rpbDT.MapOp{Updates: []*rpbDT.MapUpdate{
						{Field: &rpbDT.MapField{Name: []byte("s"), Type: rpbDT.MapField_SET.Enum()}, SetOp: &rpbDT.SetOp{Adds: [][]byte{[]byte("e")}}}}}},
				}}}}),
		mk(protocol.CodeDtUpdateReq, &rpbDT.DtUpdateReq{Bucket: []byte("b"), Type: []byte("sets"), Context: []byte{0xd7, 1, 'a', 1},
			Op: &rpbDT.DtOp{SetOp: &rpbDT.SetOp{Adds: [][]byte{[]byte("a")}, Removes: [][]byte{[]byte("b")}}}}),
		mk(protocol.CodeDtUpdateReq, &rpbDT.DtUpdateReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte("hlls"),
			Op: &rpbDT.DtOp{XXX_unrecognized: []byte{0x22, 0x03, 0x0a, 0x01, 'a'}}}),
		{Code: protocol.CodeGetResp},
		{Code: 150, Body: []byte{1, 2, 3}},
	}
}

// FuzzHandleFrame feeds arbitrary (code, body) requests to the request
// handler, without sockets, against a live memory engine. It must never
// panic (the handler's last-resort recover would hide a panic, so the
// logged recoveries are counted and fail the run) and must always produce
// a complete, well-formed answer (checkAnswer).
func FuzzHandleFrame(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(byte(fr.Code), fr.Body)
	}
	e, err := kv.Open(kv.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	for name, dt := range map[string]string{"counters": "counter", "sets": "set", "maps": "map", "hlls": "hll", "gsets": "gset"} {
		if err := e.CreateBucketType(name, kv.PropsUpdate{Datatype: kv.Ptr(dt)}); err != nil {
			f.Fatal(err)
		}
		if err := e.ActivateBucketType(name); err != nil {
			f.Fatal(err)
		}
	}
	var panics panicCounter
	srv := &Server{Service: service.NewLocal(e, testNode), Logger: panics.logger()}
	f.Fuzz(func(t *testing.T, code byte, body []byte) {
		var out bytes.Buffer
		c := newHandler(srv, &out)
		c.handle(protocol.Code(code), body)
		if n := panics.n.Load(); n > 0 {
			t.Fatalf("handler panicked serving %v %x:\n%s", protocol.Code(code), body, panics.lastPanic())
		}
		checkAnswer(t, protocol.Code(code), body, out.Bytes())
	})
}

// FuzzDecodeObjReqs checks the hand-written decoders of RpbGetReq,
// RpbPutReq and RpbDelReq against protobuf-go: whenever proto.Unmarshal
// accepts a body, the hand decoder accepts it and reads the same fields.
func FuzzDecodeObjReqs(f *testing.F) {
	for _, fr := range seedFrames(f) {
		switch fr.Code {
		case protocol.CodeGetReq, protocol.CodePutReq, protocol.CodeDelReq:
			f.Add(fr.Body)
		}
	}
	f.Add([]byte{0x22, 0x02, 0x0a, 0x00, 0x22, 0x04, 0x12, 0x02, 'a', 'b'}) // content twice: merged
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecoders(t, body)
	})
}

var partial = protov2.UnmarshalOptions{AllowPartial: true}

func checkDecoders(t testing.TB, body []byte) {
	t.Helper()
	var m objReq
	var g rpbRiakKV.RpbGetReq
	errMine := decodeGetReq(body, &m)
	if partial.Unmarshal(body, proto.MessageV2(&g)) == nil {
		if errMine != nil {
			t.Fatalf("RpbGetReq %x: protobuf-go accepts, hand decoder: %v", body, errMine)
		}
		want := objReq{
			bucket: g.Bucket, key: g.Key, typ: g.Type, ifModified: g.IfModified,
			r: g.GetR(), pr: g.GetPr(), timeout: g.GetTimeout(), nVal: g.GetNVal(),
			basicQuorum: optOf(g.BasicQuorum), notFoundOK: optOf(g.NotfoundOk), head: optOf(g.Head),
			deletedVClock: optOf(g.Deletedvclock), sloppyQuorum: optOf(g.SloppyQuorum),
		}
		compareObjReq(t, "RpbGetReq", body, &m, &want, true)
	}

	var p rpbRiakKV.RpbPutReq
	errMine = decodePutReq(body, &m)
	if partial.Unmarshal(body, proto.MessageV2(&p)) == nil {
		if errMine != nil {
			t.Fatalf("RpbPutReq %x: protobuf-go accepts, hand decoder: %v", body, errMine)
		}
		want := objReq{
			bucket: p.Bucket, key: p.Key, typ: p.Type, vclock: p.Vclock,
			w: p.GetW(), dw: p.GetDw(), pw: p.GetPw(), timeout: p.GetTimeout(), nVal: p.GetNVal(),
			returnBody: optOf(p.ReturnBody), returnHead: optOf(p.ReturnHead), ifNotModified: optOf(p.IfNotModified),
			ifNoneMatch: optOf(p.IfNoneMatch), asis: optOf(p.Asis), sloppyQuorum: optOf(p.SloppyQuorum),
			hasContent: p.Content != nil,
		}
		compareObjReq(t, "RpbPutReq", body, &m, &want, false)
		if m.hasContent != want.hasContent {
			t.Fatalf("RpbPutReq %x: content presence %v, protobuf-go %v", body, m.hasContent, want.hasContent)
		}
		if p.Content != nil {
			compareContent(t, body, &m.content, p.Content)
		}
	}

	var d rpbRiakKV.RpbDelReq
	errMine = decodeDelReq(body, &m)
	if partial.Unmarshal(body, proto.MessageV2(&d)) == nil {
		if errMine != nil {
			t.Fatalf("RpbDelReq %x: protobuf-go accepts, hand decoder: %v", body, errMine)
		}
		want := objReq{
			bucket: d.Bucket, key: d.Key, typ: d.Type, vclock: d.Vclock,
			r: d.GetR(), w: d.GetW(), pr: d.GetPr(), pw: d.GetPw(), dw: d.GetDw(), rw: d.GetRw(),
			timeout: d.GetTimeout(), nVal: d.GetNVal(), sloppyQuorum: optOf(d.SloppyQuorum),
		}
		compareObjReq(t, "RpbDelReq", body, &m, &want, false)
	}
}

func optOf(b *bool) optBool {
	switch {
	case b == nil:
		return boolUnset
	case *b:
		return boolTrue
	}
	return boolFalse
}

func sameBytes(present bool, a, b []byte) bool {
	return present == (b != nil) && bytes.Equal(a, b)
}

func compareObjReq(t testing.TB, name string, body []byte, got, want *objReq, isGet bool) {
	t.Helper()
	ok := sameBytes(got.hasBucket, got.bucket, want.bucket) &&
		sameBytes(got.hasKey, got.key, want.key) &&
		sameBytes(got.hasType, got.typ, want.typ) &&
		bytes.Equal(got.vclock, want.vclock) &&
		got.r == want.r && got.pr == want.pr && got.w == want.w && got.pw == want.pw &&
		got.dw == want.dw && got.rw == want.rw && got.timeout == want.timeout && got.nVal == want.nVal &&
		got.basicQuorum == want.basicQuorum && got.notFoundOK == want.notFoundOK && got.head == want.head &&
		got.deletedVClock == want.deletedVClock && got.sloppyQuorum == want.sloppyQuorum &&
		got.returnBody == want.returnBody && got.returnHead == want.returnHead &&
		got.ifNotModified == want.ifNotModified && got.ifNoneMatch == want.ifNoneMatch && got.asis == want.asis
	if isGet {
		ok = ok && sameBytes(got.hasIfModified, got.ifModified, want.ifModified)
	}
	if !ok {
		t.Fatalf("%s %x: hand decoder %+v, protobuf-go %+v", name, body, *got, *want)
	}
}

func compareContent(t testing.TB, body []byte, got *rpbContent, want *rpbRiakKV.RpbContent) {
	t.Helper()
	pairsEqual := func(a []rpbPair, b []*rpbRiak.RpbPair) bool {
		return slices.EqualFunc(a, b, func(x rpbPair, y *rpbRiak.RpbPair) bool {
			return bytes.Equal(x.key, y.Key) && bytes.Equal(x.value, y.Value)
		})
	}
	ok := bytes.Equal(got.value, want.Value) && bytes.Equal(got.contentType, want.ContentType) &&
		bytes.Equal(got.charset, want.Charset) && bytes.Equal(got.contentEncoding, want.ContentEncoding) &&
		bytes.Equal(got.vtag, want.Vtag) && got.lastMod == want.GetLastMod() && got.lastModUsecs == want.GetLastModUsecs() &&
		got.deleted == want.GetDeleted() && pairsEqual(got.usermeta, want.Usermeta) && pairsEqual(got.indexes, want.Indexes) &&
		slices.EqualFunc(got.links, want.Links, func(x rpbLink, y *rpbRiakKV.RpbLink) bool {
			return bytes.Equal(x.bucket, y.Bucket) && bytes.Equal(x.key, y.Key) && bytes.Equal(x.tag, y.Tag)
		})
	if !ok {
		t.Fatalf("RpbPutReq %x: content %+v, protobuf-go %v", body, *got, want)
	}
}

func TestSeedsAnswered(t *testing.T) {
	e := openEngine(t)
	var panics panicCounter
	srv := &Server{Service: service.NewLocal(e, testNode), Logger: panics.logger()}
	for _, fr := range seedFrames(t) {
		var out bytes.Buffer
		newHandler(srv, &out).handle(fr.Code, fr.Body)
		checkAnswer(t, fr.Code, fr.Body, out.Bytes())
		checkDecoders(t, fr.Body)
	}
	if panics.n.Load() != 0 {
		t.Fatalf("a seed panicked:\n%s", panics.lastPanic())
	}
}
