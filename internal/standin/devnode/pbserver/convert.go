package pbserver

import (
	"encoding/json"
	"time"

	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// Conversions between the wire types (rpb structs and the decoded objReq)
// and the kv / service types.

// quorum returns the request's consistency options. Zero numbers mean
// "not given", so the bucket's properties apply; quorums keep Riak's PB
// encoding, which kv.Quorum shares (one, quorum, all, default).
func (m *objReq) quorum() service.Quorum {
	return service.Quorum{
		R: kv.Quorum(m.r), W: kv.Quorum(m.w), PR: kv.Quorum(m.pr), PW: kv.Quorum(m.pw),
		DW: kv.Quorum(m.dw), RW: kv.Quorum(m.rw),
		NotFoundOK:   m.notFoundOK.ptr(),
		BasicQuorum:  m.basicQuorum.ptr(),
		SloppyQuorum: m.sloppyQuorum.ptr(),
		Timeout:      time.Duration(m.timeout) * time.Millisecond,
		NVal:         m.nVal,
	}
}

// cloneBytes copies b; nil stays nil. Request bytes alias the connection's
// read buffer, which the next request overwrites, and a Service may keep
// what it is given (a cluster coordinator may still be writing replicas
// after it answered), so nothing aliasing the buffer is handed over.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// toContent converts a put's RpbContent. VTag, last-modified and deleted
// are assigned by the engine, so they are not carried over.
func (c *conn) toContent(pc *rpbContent) kv.Content {
	out := kv.Content{
		Value:           cloneBytes(pc.value),
		ContentType:     c.intern(&c.lastCT, pc.contentType),
		Charset:         c.intern(&c.lastCharset, pc.charset),
		ContentEncoding: c.intern(&c.lastEncoding, pc.contentEncoding),
	}
	if out.Value == nil {
		out.Value = []byte{}
	}
	if len(pc.usermeta) > 0 {
		out.UserMeta = make([]kv.Pair, len(pc.usermeta))
		for i, p := range pc.usermeta {
			out.UserMeta[i] = kv.Pair{Key: string(p.key), Value: cloneBytes(p.value)}
		}
	}
	if len(pc.indexes) > 0 {
		out.Indexes = make([]kv.Pair, len(pc.indexes))
		for i, p := range pc.indexes {
			out.Indexes[i] = kv.Pair{Key: string(p.key), Value: cloneBytes(p.value)}
		}
	}
	if len(pc.links) > 0 {
		out.Links = make([]kv.Link, len(pc.links))
		for i, l := range pc.links {
			out.Links[i] = kv.Link{Bucket: string(l.bucket), Key: string(l.key), Tag: string(l.tag)}
		}
	}
	return out
}

// Riak's static bucket properties, reported when a bucket has none of its
// own (riak_core's and riak_kv's application defaults).
var (
	defaultChashKeyfun = modFunJSON{Mod: "riak_core_util", Fun: "chash_std_keyfun"}
	defaultLinkfun     = modFunJSON{Mod: "riak_kv_wm_link_walker", Fun: "mapreduce_linkfun"}
)

// modFunJSON and hookJSON are Riak's HTTP JSON forms of RpbModFun and
// RpbCommitHook, the form kv keeps uninterpreted properties in
// (BucketProps.Extra), so that PB and HTTP see the same values.
type modFunJSON struct {
	Mod string `json:"mod"`
	Fun string `json:"fun"`
}

type hookJSON struct {
	Mod  string `json:"mod,omitempty"`
	Fun  string `json:"fun,omitempty"`
	Name string `json:"name,omitempty"`
}

func (m modFunJSON) rpb() *rpbRiak.RpbModFun {
	return &rpbRiak.RpbModFun{Module: []byte(m.Mod), Function: []byte(m.Fun)}
}

func modFunFromRpb(m *rpbRiak.RpbModFun) modFunJSON {
	return modFunJSON{Mod: string(m.GetModule()), Fun: string(m.GetFunction())}
}

// extra decodes one uninterpreted property into v, reporting success.
func extra(p *kv.BucketProps, name string, v any) bool {
	raw, ok := p.Extra[name]
	return ok && json.Unmarshal(raw, v) == nil
}

func hooksToRpb(hs []hookJSON) []*rpbRiak.RpbCommitHook {
	out := make([]*rpbRiak.RpbCommitHook, 0, len(hs))
	for _, h := range hs {
		ch := &rpbRiak.RpbCommitHook{}
		if h.Name != "" {
			ch.Name = []byte(h.Name)
		} else {
			ch.Modfun = modFunJSON{Mod: h.Mod, Fun: h.Fun}.rpb()
		}
		out = append(out, ch)
	}
	return out
}

func hooksFromRpb(hs []*rpbRiak.RpbCommitHook) []hookJSON {
	out := make([]hookJSON, 0, len(hs))
	for _, h := range hs {
		if h.Modfun != nil {
			out = append(out, hookJSON{Mod: string(h.Modfun.GetModule()), Fun: string(h.Modfun.GetFunction())})
		} else {
			out = append(out, hookJSON{Name: string(h.GetName())})
		}
	}
	return out
}

// Riak's replication modes: false, realtime, fullsync, true (both).
var replModes = map[string]rpbRiak.RpbBucketProps_RpbReplMode{
	"false": rpbRiak.RpbBucketProps_FALSE, "realtime": rpbRiak.RpbBucketProps_REALTIME,
	"fullsync": rpbRiak.RpbBucketProps_FULLSYNC, "true": rpbRiak.RpbBucketProps_TRUE,
	"both": rpbRiak.RpbBucketProps_TRUE,
}

func replFromProps(p *kv.BucketProps) (rpbRiak.RpbBucketProps_RpbReplMode, bool) {
	var b bool
	if extra(p, "repl", &b) {
		if b {
			return rpbRiak.RpbBucketProps_TRUE, true
		}
		return rpbRiak.RpbBucketProps_FALSE, true
	}
	var s string
	if extra(p, "repl", &s) {
		m, ok := replModes[s]
		return m, ok
	}
	return 0, false
}

// propsToRpb converts effective bucket (or bucket type) properties to
// RpbBucketProps: every property the devnode interprets, and Riak's
// static ones (hooks, key and link functions, backend, search,
// replication, datatype, consistency, write_once) from the values kept
// in p.Extra, with Riak's defaults where unset.
func propsToRpb(p kv.BucketProps) *rpbRiak.RpbBucketProps {
	q := func(v kv.Quorum) *uint32 { u := uint32(v); return &u }
	u32 := func(v uint32) *uint32 { return &v }
	b := func(v bool) *bool { return &v }
	out := &rpbRiak.RpbBucketProps{
		NVal: u32(p.NVal), AllowMult: b(p.AllowMult), LastWriteWins: b(p.LastWriteWins),
		R: q(p.R), W: q(p.W), Pr: q(p.PR), Pw: q(p.PW), Dw: q(p.DW), Rw: q(p.RW),
		BasicQuorum: b(p.BasicQuorum), NotfoundOk: b(p.NotFoundOK),
		SmallVclock: u32(p.SmallVClock), BigVclock: u32(p.BigVClock),
		YoungVclock: u32(p.YoungVClock), OldVclock: u32(p.OldVClock),
	}
	var pre, post []hookJSON
	if extra(&p, "precommit", &pre) && len(pre) > 0 {
		out.Precommit = hooksToRpb(pre)
	}
	out.HasPrecommit = b(len(out.Precommit) > 0)
	if extra(&p, "postcommit", &post) && len(post) > 0 {
		out.Postcommit = hooksToRpb(post)
	}
	out.HasPostcommit = b(len(out.Postcommit) > 0)

	mf := defaultChashKeyfun
	if !extra(&p, "chash_keyfun", &mf) || mf.Mod == "" {
		mf = defaultChashKeyfun
	}
	out.ChashKeyfun = mf.rpb()
	mf = defaultLinkfun
	if !extra(&p, "linkfun", &mf) || mf.Mod == "" {
		mf = defaultLinkfun
	}
	out.Linkfun = mf.rpb()

	var s string
	if extra(&p, "backend", &s) && s != "" {
		out.Backend = []byte(s)
	}
	s = ""
	if extra(&p, "search_index", &s) && s != "" {
		out.SearchIndex = []byte(s)
	}
	if p.Datatype != "" {
		out.Datatype = []byte(p.Datatype)
	}
	var flag bool
	if extra(&p, "search", &flag) {
		out.Search = b(flag)
	}
	if extra(&p, "consistent", &flag) {
		out.Consistent = b(flag)
	}
	if extra(&p, "write_once", &flag) {
		out.WriteOnce = b(flag)
	}
	if m, ok := replFromProps(&p); ok {
		out.Repl = m.Enum()
	}
	return out
}

// propsFromRpb converts the properties of an RpbSetBucketReq or
// RpbSetBucketTypeReq to an update: unset fields stay unset. Static
// properties go to Extra in Riak's HTTP JSON form and through
// kv.ParseProps, which refuses what the devnode cannot honour (consistent,
// write_once).
func propsFromRpb(pb *rpbRiak.RpbBucketProps) (kv.PropsUpdate, error) {
	var u kv.PropsUpdate
	if pb == nil {
		return u, nil
	}
	q := func(v *uint32) *kv.Quorum {
		if v == nil {
			return nil
		}
		x := kv.Quorum(*v)
		return &x
	}
	u.NVal, u.AllowMult, u.LastWriteWins = pb.NVal, pb.AllowMult, pb.LastWriteWins
	u.R, u.W, u.PR, u.PW, u.DW, u.RW = q(pb.R), q(pb.W), q(pb.Pr), q(pb.Pw), q(pb.Dw), q(pb.Rw)
	u.NotFoundOK, u.BasicQuorum = pb.NotfoundOk, pb.BasicQuorum
	u.SmallVClock, u.BigVClock, u.YoungVClock, u.OldVClock = pb.SmallVclock, pb.BigVclock, pb.YoungVclock, pb.OldVclock

	ex := map[string]any{}
	// has_precommit=true with no hooks clears them; hooks set them.
	if len(pb.Precommit) > 0 || pb.GetHasPrecommit() {
		ex["precommit"] = hooksFromRpb(pb.Precommit)
	}
	if len(pb.Postcommit) > 0 || pb.GetHasPostcommit() {
		ex["postcommit"] = hooksFromRpb(pb.Postcommit)
	}
	if pb.ChashKeyfun != nil {
		ex["chash_keyfun"] = modFunFromRpb(pb.ChashKeyfun)
	}
	if pb.Linkfun != nil {
		ex["linkfun"] = modFunFromRpb(pb.Linkfun)
	}
	if pb.Backend != nil {
		ex["backend"] = string(pb.Backend)
	}
	if pb.SearchIndex != nil {
		ex["search_index"] = string(pb.SearchIndex)
	}
	if pb.Datatype != nil {
		ex["datatype"] = string(pb.Datatype)
	}
	if pb.Search != nil {
		ex["search"] = *pb.Search
	}
	if pb.Consistent != nil {
		ex["consistent"] = *pb.Consistent
	}
	if pb.WriteOnce != nil {
		ex["write_once"] = *pb.WriteOnce
	}
	if pb.Repl != nil {
		switch *pb.Repl {
		case rpbRiak.RpbBucketProps_FALSE:
			ex["repl"] = false
		case rpbRiak.RpbBucketProps_TRUE:
			ex["repl"] = true
		case rpbRiak.RpbBucketProps_REALTIME:
			ex["repl"] = "realtime"
		case rpbRiak.RpbBucketProps_FULLSYNC:
			ex["repl"] = "fullsync"
		}
	}
	if len(ex) == 0 {
		return u, nil
	}
	data, err := json.Marshal(ex)
	if err != nil {
		return u, err
	}
	parsed, err := kv.ParseProps(data)
	if err != nil {
		return u, err
	}
	u.Extra, u.Datatype = parsed.Extra, parsed.Datatype
	return u, nil
}

// preflistToRpb converts a key's replica locations.
func preflistToRpb(pl []service.PreflistEntry) *rpbRiakKV.RpbGetBucketKeyPreflistResp {
	out := &rpbRiakKV.RpbGetBucketKeyPreflistResp{Preflist: make([]*rpbRiakKV.RpbBucketKeyPreflistItem, len(pl))}
	for i, e := range pl {
		part, primary := e.Partition, e.Primary
		out.Preflist[i] = &rpbRiakKV.RpbBucketKeyPreflistItem{Partition: &part, Node: []byte(e.Node), Primary: &primary}
	}
	return out
}
