package protocol

// Reference decoders built on riak-go-client's generated rpb types: the
// hand-rolled wire scans are checked against them in tests and fuzzing.

import (
	"github.com/basho/riak-go-client/rpb/riak"
	"github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/basho/riak-go-client/rpb/riak_ts"
	"github.com/golang/protobuf/proto"
)

type doneMsg interface {
	proto.Message
	GetDone() bool
}

// rpbDoneMsg returns a fresh rpb message for a code with a done field.
func rpbDoneMsg(c Code) doneMsg {
	switch c {
	case CodeListBucketsResp:
		return &riak_kv.RpbListBucketsResp{}
	case CodeListKeysResp:
		return &riak_kv.RpbListKeysResp{}
	case CodeMapRedResp:
		return &riak_kv.RpbMapRedResp{}
	case CodeIndexResp:
		return &riak_kv.RpbIndexResp{}
	case CodeCSBucketResp:
		return &riak_kv.RpbCSBucketResp{}
	case CodeIndexBodyResp:
		return &riak_kv.RpbIndexBodyResp{}
	case CodeTsQueryResp:
		return &riak_ts.TsQueryResp{}
	case CodeTsListKeysResp:
		return &riak_ts.TsListKeysResp{}
	}
	return nil
}

// rpbDone decodes the done flag with the rpb types; ok is false for codes
// without a done field.
func rpbDone(c Code, body []byte) (done, ok bool, err error) {
	m := rpbDoneMsg(c)
	if m == nil {
		return false, false, nil
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return false, true, err
	}
	return m.GetDone(), true, nil
}

type streamMsg interface {
	proto.Message
	GetStream() bool
}

// rpbStream decodes a request's stream flag with the rpb types.
func rpbStream(c Code, body []byte) (stream, ok bool, err error) {
	var m streamMsg
	switch c {
	case CodeListBucketsReq:
		m = &riak_kv.RpbListBucketsReq{}
	case CodeIndexReq:
		m = &riak_kv.RpbIndexReq{}
	case CodeTsQueryReq:
		m = &riak_ts.TsQueryReq{}
	default:
		return false, false, nil
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return false, true, err
	}
	return m.GetStream(), true, nil
}

type keyMsg interface {
	proto.Message
	GetBucket() []byte
	GetKey() []byte
}

type typeMsg interface{ GetType() []byte }

// rpbKey decodes a request's type, bucket and key with the rpb types.
func rpbKey(c Code, body []byte) (k Key, ok, applicable bool, err error) {
	var m keyMsg
	switch c {
	case CodeGetReq:
		m = &riak_kv.RpbGetReq{}
	case CodePutReq:
		m = &riak_kv.RpbPutReq{}
	case CodeDelReq:
		m = &riak_kv.RpbDelReq{}
	case CodeGetBucketKeyPreflistReq:
		m = &riak_kv.RpbGetBucketKeyPreflistReq{}
	case CodeCounterUpdateReq:
		m = &riak_kv.RpbCounterUpdateReq{}
	case CodeCounterGetReq:
		m = &riak_kv.RpbCounterGetReq{}
	case CodeDtFetchReq:
		m = &riak_dt.DtFetchReq{}
	case CodeDtUpdateReq:
		m = &riak_dt.DtUpdateReq{}
	default:
		return Key{}, false, false, nil
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return Key{}, false, true, err
	}
	k = Key{Bucket: m.GetBucket(), Key: m.GetKey(), Type: []byte("default")}
	if tm, ok := m.(typeMsg); ok && tm.GetType() != nil {
		k.Type = tm.GetType()
	}
	return k, k.Bucket != nil && k.Key != nil, true, nil
}

// rpbErrorResp decodes an RpbErrorResp body with the rpb type.
func rpbErrorResp(body []byte) (string, uint32, error) {
	var m riak.RpbErrorResp
	if err := proto.Unmarshal(body, &m); err != nil {
		return "", 0, err
	}
	return string(m.GetErrmsg()), m.GetErrcode(), nil
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
