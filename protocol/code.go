package protocol

import "strconv"

// Code is a Riak PB message code: the byte after a frame's length prefix.
type Code uint8

// Message codes, named after Riak's message names without the "Rpb" prefix
// (Id and Tls spelled ID and TLS). The comment gives the owning service, as in
// riak_pb's riak_pb_messages.csv.
const (
	CodeErrorResp                  Code = 0   // riak
	CodePingReq                    Code = 1   // riak
	CodePingResp                   Code = 2   // riak
	CodeGetClientIDReq             Code = 3   // riak_kv
	CodeGetClientIDResp            Code = 4   // riak_kv
	CodeSetClientIDReq             Code = 5   // riak_kv
	CodeSetClientIDResp            Code = 6   // riak_kv
	CodeGetServerInfoReq           Code = 7   // riak
	CodeGetServerInfoResp          Code = 8   // riak
	CodeGetReq                     Code = 9   // riak_kv
	CodeGetResp                    Code = 10  // riak_kv
	CodePutReq                     Code = 11  // riak_kv
	CodePutResp                    Code = 12  // riak_kv
	CodeDelReq                     Code = 13  // riak_kv
	CodeDelResp                    Code = 14  // riak_kv
	CodeListBucketsReq             Code = 15  // riak_kv
	CodeListBucketsResp            Code = 16  // riak_kv
	CodeListKeysReq                Code = 17  // riak_kv
	CodeListKeysResp               Code = 18  // riak_kv
	CodeGetBucketReq               Code = 19  // riak
	CodeGetBucketResp              Code = 20  // riak
	CodeSetBucketReq               Code = 21  // riak
	CodeSetBucketResp              Code = 22  // riak
	CodeMapRedReq                  Code = 23  // riak_kv
	CodeMapRedResp                 Code = 24  // riak_kv
	CodeIndexReq                   Code = 25  // riak_kv
	CodeIndexResp                  Code = 26  // riak_kv
	CodeSearchQueryReq             Code = 27  // riak_search
	CodeSearchQueryResp            Code = 28  // riak_search
	CodeResetBucketReq             Code = 29  // riak
	CodeResetBucketResp            Code = 30  // riak
	CodeGetBucketTypeReq           Code = 31  // riak
	CodeSetBucketTypeReq           Code = 32  // riak
	CodeGetBucketKeyPreflistReq    Code = 33  // riak_kv
	CodeGetBucketKeyPreflistResp   Code = 34  // riak_kv
	CodeCloneReq                   Code = 35  // riak_kv (Riak 3.x)
	CodeCloneResp                  Code = 36  // riak_kv (Riak 3.x)
	CodeCSBucketReq                Code = 40  // riak_kv
	CodeCSBucketResp               Code = 41  // riak_kv
	CodeIndexBodyResp              Code = 42  // riak_kv
	CodeCounterUpdateReq           Code = 50  // riak_kv
	CodeCounterUpdateResp          Code = 51  // riak_kv
	CodeCounterGetReq              Code = 52  // riak_kv
	CodeCounterGetResp             Code = 53  // riak_kv
	CodeYokozunaIndexGetReq        Code = 54  // riak_yokozuna
	CodeYokozunaIndexGetResp       Code = 55  // riak_yokozuna
	CodeYokozunaIndexPutReq        Code = 56  // riak_yokozuna
	CodeYokozunaIndexDeleteReq     Code = 57  // riak_yokozuna
	CodeYokozunaSchemaGetReq       Code = 58  // riak_yokozuna
	CodeYokozunaSchemaGetResp      Code = 59  // riak_yokozuna
	CodeYokozunaSchemaPutReq       Code = 60  // riak_yokozuna
	CodeCoverageReq                Code = 70  // riak_kv
	CodeCoverageResp               Code = 71  // riak_kv
	CodeDtFetchReq                 Code = 80  // riak_dt
	CodeDtFetchResp                Code = 81  // riak_dt
	CodeDtUpdateReq                Code = 82  // riak_dt
	CodeDtUpdateResp               Code = 83  // riak_dt
	CodeTsQueryReq                 Code = 90  // riak_ts
	CodeTsQueryResp                Code = 91  // riak_ts
	CodeTsPutReq                   Code = 92  // riak_ts
	CodeTsPutResp                  Code = 93  // riak_ts
	CodeTsDelReq                   Code = 94  // riak_ts
	CodeTsDelResp                  Code = 95  // riak_ts
	CodeTsGetReq                   Code = 96  // riak_ts
	CodeTsGetResp                  Code = 97  // riak_ts
	CodeTsListKeysReq              Code = 98  // riak_ts
	CodeTsListKeysResp             Code = 99  // riak_ts
	CodeTsCoverageReq              Code = 100 // riak_ts
	CodeTsCoverageResp             Code = 101 // riak_ts
	CodeTsCoverageEntry            Code = 102 // riak_ts (embedded only)
	CodeTsRange                    Code = 103 // riak_ts (embedded only)
	CodeTsTtbMsg                   Code = 104 // riak_ts (term_to_binary envelope)
	CodeReplGetReq                 Code = 128 // riak_repl
	CodeReplGetClusterIDReq        Code = 129 // riak_repl
	CodeReplGetClusterIDResp       Code = 130 // riak_repl
	CodeRTEReq                     Code = 200 // riak_kv (Riak 3.x)
	CodeRTEResp                    Code = 201 // riak_kv (Riak 3.x)
	CodeFetchReq                   Code = 202 // riak_kv (Riak 3.x)
	CodeFetchResp                  Code = 203 // riak_kv (Riak 3.x)
	CodePushReq                    Code = 204 // riak_kv (Riak 3.x)
	CodePushResp                   Code = 205 // riak_kv (Riak 3.x)
	CodeMembershipReq              Code = 206 // riak_kv (Riak 3.x)
	CodeMembershipResp             Code = 207 // riak_kv (Riak 3.x)
	CodeAaeFoldMergeRootNValReq    Code = 210 // riak_kv (Riak 3.x)
	CodeAaeFoldMergeBranchNValReq  Code = 211 // riak_kv (Riak 3.x)
	CodeAaeFoldFetchClocksNValReq  Code = 212 // riak_kv (Riak 3.x)
	CodeAaeFoldMergeTreesRangeReq  Code = 213 // riak_kv (Riak 3.x)
	CodeAaeFoldFetchClocksRangeReq Code = 214 // riak_kv (Riak 3.x)
	CodeAaeFoldFindKeysReq         Code = 215 // riak_kv (Riak 3.x)
	CodeAaeFoldObjectStatsReq      Code = 216 // riak_kv (Riak 3.x)
	CodeAaeFoldReplKeysReq         Code = 217 // riak_kv (Riak 3.x)
	CodeAaeFoldFindTombsReq        Code = 218 // riak_kv (Riak 3.x)
	CodeAaeFoldRepairKeysReq       Code = 219 // riak_kv (Riak 3.x)
	CodeAaeFoldTreeResp            Code = 220 // riak_kv (Riak 3.x)
	CodeAaeFoldKeyValueResp        Code = 221 // riak_kv (Riak 3.x)
	CodeAaeFoldKeyCountResp        Code = 222 // riak_kv (Riak 3.x)
	CodeAaeFoldListBucketsReq      Code = 223 // riak_kv (Riak 3.x)
	CodeAaeFoldListBucketsResp     Code = 224 // riak_kv (Riak 3.x)
	CodeAaeFoldReapTombsReq        Code = 230 // riak_kv (Riak 3.x)
	CodeAaeFoldEraseKeysReq        Code = 231 // riak_kv (Riak 3.x)
	CodeAuthReq                    Code = 253 // riak
	CodeAuthResp                   Code = 254 // riak
	CodeStartTLS                   Code = 255 // riak (request and response)
)

// String returns Riak's name for the code (e.g. "RpbGetReq"), or "Code(N)"
// for a code not in the table.
func (c Code) String() string {
	if m := &table[c]; m.Name != "" {
		return m.Name
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// Known reports whether c is in the message table.
func (c Code) Known() bool { return table[c].Name != "" }
