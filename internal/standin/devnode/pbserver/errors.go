package pbserver

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("pbserver: server closed")

// notSupported is the suffix of the answer to requests the devnode does not
// implement (MapReduce, search, data types, counters, TS, security ...).
const notSupported = "not supported by devnode (RMF-Go development node; not Riak)"

// riakHasNoService reports whether Riak KV 3.2.3 registers no PB service
// for the request code, and so answers it "Unknown message code: N"
// (errcode 0) before it decodes anything: seen by sending every request
// code of riak_pb_messages.csv to a Riak KV 3.2.3 node with security off
// (2026-12-02). Legacy search (27), Yokozuna (54-60), coverage (70), Riak
// TS (90-104) and, with security off, RpbAuthReq (253). The devnode
// answers them the same, so a client or the director sees what Riak
// says; what Riak serves and the devnode does not gets notSupported.
func riakHasNoService(code protocol.Code) bool {
	switch {
	case code == protocol.CodeSearchQueryReq, code == protocol.CodeCoverageReq, code == protocol.CodeAuthReq:
		return true
	case code >= protocol.CodeYokozunaIndexGetReq && code <= protocol.CodeYokozunaSchemaPutReq:
		return true
	case code >= protocol.CodeTsQueryReq && code <= protocol.CodeTsTtbMsg:
		return true
	}
	return false
}

// RiakErrorMessage lets a Service error choose its RpbErrorResp text, e.g.
// a cluster coordinator reporting "{n_val_violation,3}" exactly as Riak
// words it. It is looked for anywhere in the error chain.
type RiakErrorMessage interface {
	RiakErrorMessage() string
}

// errorMessage maps a Service error to the errmsg Riak would send. The
// strings clients and tools match on are Riak's own: "modified",
// "match_found" and "notfound" (riak_kv_pb_object's answers to
// if_not_modified / if_none_match), "timeout", and quorum failures in
// Riak's {insufficient_vnodes,...} tuple style. Anything else (validation
// errors and the like) is sent as its message. riak-go-client itself does
// not interpret the text: it surfaces it as RiakError.Errmsg.
func errorMessage(err error) string {
	var custom RiakErrorMessage
	switch {
	case errors.As(err, &custom):
		return custom.RiakErrorMessage()
	case errors.Is(err, kv.ErrModified):
		return "modified"
	case errors.Is(err, kv.ErrExists):
		return "match_found"
	case errors.Is(err, kv.ErrNotFound):
		return "notfound"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, service.ErrQuorum):
		detail := strings.TrimPrefix(err.Error(), service.ErrQuorum.Error())
		detail = strings.TrimLeft(detail, ": ")
		if detail == "" {
			return "{insufficient_vnodes}"
		}
		return "{insufficient_vnodes," + strings.ReplaceAll(detail, `"`, `'`) + "}"
	}
	return err.Error()
}

// appendServiceError appends the RpbErrorResp for a Service error.
func appendServiceError(dst []byte, err error) []byte {
	return protocol.AppendErrorResp(dst, errorMessage(err), 0)
}
