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
