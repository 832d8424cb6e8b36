package protocol

// Message describes one Riak PB message code. The table is the union of
// riak-go-client v1.7.0's codes and riak_pb's riak_pb_messages.csv (Riak 2.x
// and 3.x, including TS, replication and AAE fold codes).
//
// The flags describe requests: for a response code only Code, Name, Service
// and Response are set.
type Message struct {
	Code Code
	// Name is Riak's message name, e.g. "RpbGetReq".
	Name string
	// Service is the riak_pb service that owns the code, e.g. "riak_kv".
	Service string
	// Request: a client sends this code to a server.
	Request bool
	// Response: a server sends this code to a client. RpbStartTls and
	// TsTtbMsg are both.
	Response bool
	// Responses lists the codes a request may be answered with, excluding
	// RpbErrorResp, which every request may receive. Read-only.
	Responses []Code
	// Streaming: the answer may be several frames, ended by one whose done
	// field is set (see StreamDone).
	Streaming bool
	// StreamFlag: the answer streams only when the request's own stream
	// field is set; use RequestStreams to decide for a given body.
	StreamFlag bool
	// Retryable: the request only reads, so a proxy may send it again,
	// possibly to another node, as long as no response frame has been
	// relayed to the client yet. Writes, deletes, queue operations and
	// connection-scoped requests are not retryable (RepeatableWrite says
	// which writes may still be sent again, and when).
	Retryable bool
	// ConnScoped: the request reads or changes per-connection server state
	// (client id, TLS, authentication). A proxy must not spread such a
	// request over pooled backend connections; it must pin the client to
	// one backend connection or answer it itself.
	ConnScoped bool
	// Metadata: the request reads or changes cluster metadata (bucket
	// and bucket-type properties, search indexes and schemas, and a
	// preflist, which depends on n_val). Riak spreads cluster metadata by
	// gossip, so for some milliseconds after a change another node
	// answers with the old value. A proxy keeps a client's metadata
	// requests on one node, so that it reads its own changes as a client
	// of one node does; a metadata request that is not Retryable changes
	// metadata.
	Metadata bool
}

// Embedded reports whether the code names a sub-message registered for
// encoding only (TsCoverageEntry, TsRange); it never travels as a frame.
func (m Message) Embedded() bool { return !m.Request && !m.Response }

const (
	svcRiak     = "riak"
	svcKV       = "riak_kv"
	svcSearch   = "riak_search"
	svcYokozuna = "riak_yokozuna"
	svcDT       = "riak_dt"
	svcTS       = "riak_ts"
	svcRepl     = "riak_repl"
)

// request flags
type reqFlags uint8

const (
	fRetry      reqFlags = 1 << iota // Retryable
	fStream                          // Streaming
	fStreamFlag                      // Streaming only with the stream flag
	fConn                            // ConnScoped
	fAlsoResp                        // the code is also a response
	fMeta                            // Metadata
)

func req(c Code, name, svc string, f reqFlags, resps ...Code) Message {
	return Message{
		Code: c, Name: name, Service: svc, Request: true,
		Response:   f&fAlsoResp != 0,
		Responses:  resps,
		Streaming:  f&(fStream|fStreamFlag) != 0,
		StreamFlag: f&fStreamFlag != 0,
		Retryable:  f&fRetry != 0,
		ConnScoped: f&fConn != 0,
		Metadata:   f&fMeta != 0,
	}
}

func resp(c Code, name, svc string) Message {
	return Message{Code: c, Name: name, Service: svc, Response: true}
}

func embedded(c Code, name, svc string) Message {
	return Message{Code: c, Name: name, Service: svc}
}

// messages is the table in code order.
var messages = []Message{
	resp(CodeErrorResp, "RpbErrorResp", svcRiak),
	req(CodePingReq, "RpbPingReq", svcRiak, fRetry, CodePingResp),
	resp(CodePingResp, "RpbPingResp", svcRiak),
	req(CodeGetClientIDReq, "RpbGetClientIdReq", svcKV, fConn, CodeGetClientIDResp),
	resp(CodeGetClientIDResp, "RpbGetClientIdResp", svcKV),
	req(CodeSetClientIDReq, "RpbSetClientIdReq", svcKV, fConn, CodeSetClientIDResp),
	resp(CodeSetClientIDResp, "RpbSetClientIdResp", svcKV),
	req(CodeGetServerInfoReq, "RpbGetServerInfoReq", svcRiak, fRetry, CodeGetServerInfoResp),
	resp(CodeGetServerInfoResp, "RpbGetServerInfoResp", svcRiak),
	req(CodeGetReq, "RpbGetReq", svcKV, fRetry, CodeGetResp),
	resp(CodeGetResp, "RpbGetResp", svcKV),
	req(CodePutReq, "RpbPutReq", svcKV, 0, CodePutResp),
	resp(CodePutResp, "RpbPutResp", svcKV),
	req(CodeDelReq, "RpbDelReq", svcKV, 0, CodeDelResp),
	resp(CodeDelResp, "RpbDelResp", svcKV),
	req(CodeListBucketsReq, "RpbListBucketsReq", svcKV, fRetry|fStreamFlag, CodeListBucketsResp),
	resp(CodeListBucketsResp, "RpbListBucketsResp", svcKV),
	req(CodeListKeysReq, "RpbListKeysReq", svcKV, fRetry|fStream, CodeListKeysResp),
	resp(CodeListKeysResp, "RpbListKeysResp", svcKV),
	req(CodeGetBucketReq, "RpbGetBucketReq", svcRiak, fRetry|fMeta, CodeGetBucketResp),
	resp(CodeGetBucketResp, "RpbGetBucketResp", svcRiak),
	req(CodeSetBucketReq, "RpbSetBucketReq", svcRiak, fMeta, CodeSetBucketResp),
	resp(CodeSetBucketResp, "RpbSetBucketResp", svcRiak),
	req(CodeMapRedReq, "RpbMapRedReq", svcKV, fRetry|fStream, CodeMapRedResp),
	resp(CodeMapRedResp, "RpbMapRedResp", svcKV),
	req(CodeIndexReq, "RpbIndexReq", svcKV, fRetry|fStreamFlag, CodeIndexResp, CodeIndexBodyResp),
	resp(CodeIndexResp, "RpbIndexResp", svcKV),
	req(CodeSearchQueryReq, "RpbSearchQueryReq", svcSearch, fRetry, CodeSearchQueryResp),
	resp(CodeSearchQueryResp, "RpbSearchQueryResp", svcSearch),
	req(CodeResetBucketReq, "RpbResetBucketReq", svcRiak, fMeta, CodeResetBucketResp),
	resp(CodeResetBucketResp, "RpbResetBucketResp", svcRiak),
	req(CodeGetBucketTypeReq, "RpbGetBucketTypeReq", svcRiak, fRetry|fMeta, CodeGetBucketResp),
	req(CodeSetBucketTypeReq, "RpbSetBucketTypeReq", svcRiak, fMeta, CodeSetBucketResp),
	req(CodeGetBucketKeyPreflistReq, "RpbGetBucketKeyPreflistReq", svcKV, fRetry|fMeta, CodeGetBucketKeyPreflistResp),
	resp(CodeGetBucketKeyPreflistResp, "RpbGetBucketKeyPreflistResp", svcKV),
	req(CodeCloneReq, "RpbCloneReq", svcKV, 0, CodeCloneResp),
	resp(CodeCloneResp, "RpbCloneResp", svcKV),
	req(CodeCSBucketReq, "RpbCSBucketReq", svcKV, fRetry|fStream, CodeCSBucketResp),
	resp(CodeCSBucketResp, "RpbCSBucketResp", svcKV),
	resp(CodeIndexBodyResp, "RpbIndexBodyResp", svcKV),
	req(CodeCounterUpdateReq, "RpbCounterUpdateReq", svcKV, 0, CodeCounterUpdateResp),
	resp(CodeCounterUpdateResp, "RpbCounterUpdateResp", svcKV),
	req(CodeCounterGetReq, "RpbCounterGetReq", svcKV, fRetry, CodeCounterGetResp),
	resp(CodeCounterGetResp, "RpbCounterGetResp", svcKV),
	req(CodeYokozunaIndexGetReq, "RpbYokozunaIndexGetReq", svcYokozuna, fRetry|fMeta, CodeYokozunaIndexGetResp),
	resp(CodeYokozunaIndexGetResp, "RpbYokozunaIndexGetResp", svcYokozuna),
	req(CodeYokozunaIndexPutReq, "RpbYokozunaIndexPutReq", svcYokozuna, fMeta, CodePutResp),
	req(CodeYokozunaIndexDeleteReq, "RpbYokozunaIndexDeleteReq", svcYokozuna, fMeta, CodeDelResp),
	req(CodeYokozunaSchemaGetReq, "RpbYokozunaSchemaGetReq", svcYokozuna, fRetry|fMeta, CodeYokozunaSchemaGetResp),
	resp(CodeYokozunaSchemaGetResp, "RpbYokozunaSchemaGetResp", svcYokozuna),
	req(CodeYokozunaSchemaPutReq, "RpbYokozunaSchemaPutReq", svcYokozuna, fMeta, CodePutResp),
	req(CodeCoverageReq, "RpbCoverageReq", svcKV, fRetry, CodeCoverageResp),
	resp(CodeCoverageResp, "RpbCoverageResp", svcKV),
	req(CodeDtFetchReq, "DtFetchReq", svcDT, fRetry, CodeDtFetchResp),
	resp(CodeDtFetchResp, "DtFetchResp", svcDT),
	req(CodeDtUpdateReq, "DtUpdateReq", svcDT, 0, CodeDtUpdateResp),
	resp(CodeDtUpdateResp, "DtUpdateResp", svcDT),
	// A TS query is SQL that may be CREATE TABLE or INSERT: not retryable.
	req(CodeTsQueryReq, "TsQueryReq", svcTS, fStreamFlag, CodeTsQueryResp),
	resp(CodeTsQueryResp, "TsQueryResp", svcTS),
	req(CodeTsPutReq, "TsPutReq", svcTS, 0, CodeTsPutResp),
	resp(CodeTsPutResp, "TsPutResp", svcTS),
	req(CodeTsDelReq, "TsDelReq", svcTS, 0, CodeTsDelResp),
	resp(CodeTsDelResp, "TsDelResp", svcTS),
	req(CodeTsGetReq, "TsGetReq", svcTS, fRetry, CodeTsGetResp),
	resp(CodeTsGetResp, "TsGetResp", svcTS),
	req(CodeTsListKeysReq, "TsListKeysReq", svcTS, fRetry|fStream, CodeTsListKeysResp),
	resp(CodeTsListKeysResp, "TsListKeysResp", svcTS),
	req(CodeTsCoverageReq, "TsCoverageReq", svcTS, fRetry, CodeTsCoverageResp),
	resp(CodeTsCoverageResp, "TsCoverageResp", svcTS),
	embedded(CodeTsCoverageEntry, "TsCoverageEntry", svcTS),
	embedded(CodeTsRange, "TsRange", svcTS),
	// An opaque term_to_binary envelope for any TS request or response.
	req(CodeTsTtbMsg, "TsTtbMsg", svcTS, fAlsoResp, CodeTsTtbMsg),
	req(CodeReplGetReq, "RpbReplGetReq", svcRepl, fRetry, CodeGetResp),
	req(CodeReplGetClusterIDReq, "RpbReplGetClusterIdReq", svcRepl, fRetry, CodeReplGetClusterIDResp),
	resp(CodeReplGetClusterIDResp, "RpbReplGetClusterIdResp", svcRepl),
	// Real-time enqueue, queue fetch and push change replication queues.
	req(CodeRTEReq, "RpbRTEReq", svcKV, 0, CodeRTEResp),
	resp(CodeRTEResp, "RpbRTEResp", svcKV),
	req(CodeFetchReq, "RpbFetchReq", svcKV, 0, CodeFetchResp),
	resp(CodeFetchResp, "RpbFetchResp", svcKV),
	req(CodePushReq, "RpbPushReq", svcKV, 0, CodePushResp),
	resp(CodePushResp, "RpbPushResp", svcKV),
	req(CodeMembershipReq, "RpbMembershipReq", svcKV, fRetry, CodeMembershipResp),
	resp(CodeMembershipResp, "RpbMembershipResp", svcKV),
	req(CodeAaeFoldMergeRootNValReq, "RpbAaeFoldMergeRootNValReq", svcKV, fRetry, CodeAaeFoldTreeResp),
	req(CodeAaeFoldMergeBranchNValReq, "RpbAaeFoldMergeBranchNValReq", svcKV, fRetry, CodeAaeFoldTreeResp),
	req(CodeAaeFoldFetchClocksNValReq, "RpbAaeFoldFetchClocksNValReq", svcKV, fRetry, CodeAaeFoldKeyValueResp),
	req(CodeAaeFoldMergeTreesRangeReq, "RpbAaeFoldMergeTreesRangeReq", svcKV, fRetry, CodeAaeFoldTreeResp),
	req(CodeAaeFoldFetchClocksRangeReq, "RpbAaeFoldFetchClocksRangeReq", svcKV, fRetry, CodeAaeFoldKeyValueResp),
	req(CodeAaeFoldFindKeysReq, "RpbAaeFoldFindKeysReq", svcKV, fRetry, CodeAaeFoldKeyCountResp),
	req(CodeAaeFoldObjectStatsReq, "RpbAaeFoldObjectStatsReq", svcKV, fRetry, CodeAaeFoldKeyCountResp),
	// Repl keys queues keys for replication; repair keys triggers repair.
	req(CodeAaeFoldReplKeysReq, "RpbAaeFoldReplKeysReq", svcKV, 0, CodeAaeFoldKeyCountResp),
	req(CodeAaeFoldFindTombsReq, "RpbAaeFoldFindTombsReq", svcKV, fRetry, CodeAaeFoldKeyCountResp),
	req(CodeAaeFoldRepairKeysReq, "RpbAaeFoldRepairKeysReq", svcKV, 0, CodeAaeFoldKeyCountResp),
	resp(CodeAaeFoldTreeResp, "RpbAaeFoldTreeResp", svcKV),
	resp(CodeAaeFoldKeyValueResp, "RpbAaeFoldKeyValueResp", svcKV),
	resp(CodeAaeFoldKeyCountResp, "RpbAaeFoldKeyCountResp", svcKV),
	req(CodeAaeFoldListBucketsReq, "RpbAaeFoldListBucketsReq", svcKV, fRetry, CodeAaeFoldListBucketsResp),
	resp(CodeAaeFoldListBucketsResp, "RpbAaeFoldListBucketsResp", svcKV),
	req(CodeAaeFoldReapTombsReq, "RpbAaeFoldReapTombsReq", svcKV, 0, CodeAaeFoldKeyCountResp),
	req(CodeAaeFoldEraseKeysReq, "RpbAaeFoldEraseKeysReq", svcKV, 0, CodeAaeFoldKeyCountResp),
	req(CodeAuthReq, "RpbAuthReq", svcRiak, fConn, CodeAuthResp),
	resp(CodeAuthResp, "RpbAuthResp", svcRiak),
	// The server answers RpbStartTls with RpbStartTls, then both sides
	// run the TLS handshake on the same connection.
	req(CodeStartTLS, "RpbStartTls", svcRiak, fConn|fAlsoResp, CodeStartTLS),
}

// table indexes messages by code; an entry with an empty Name is unknown.
var table = func() (t [256]Message) {
	for _, m := range messages {
		if t[m.Code].Name != "" {
			panic("protocol: duplicate code " + m.Name)
		}
		t[m.Code] = m
	}
	return t
}()

// Lookup returns the table entry for c.
func Lookup(c Code) (Message, bool) {
	m := table[c]
	return m, m.Name != ""
}

// Messages returns a copy of the table sorted by code.
func Messages() []Message {
	out := make([]Message, len(messages))
	copy(out, messages)
	return out
}

// IsRequest reports whether a client may send c as a request.
func IsRequest(c Code) bool { return table[c].Request }
