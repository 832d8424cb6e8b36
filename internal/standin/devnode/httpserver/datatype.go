package httpserver

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/crdt"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// Riak data types over HTTP (riak_kv_wm_crdt): GET and POST on
// /types/T/buckets/B/datatypes[/K].

// dtBoolParam reads include_context or returnbody: true, false or
// default (def), any case, as riak_kv_wm_crdt.
func dtBoolParam(q url.Values, name string, def bool) (bool, error) {
	if !q.Has(name) {
		return def, nil
	}
	switch strings.ToLower(q.Get(name)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "default":
		return def, nil
	}
	return false, badRequest("%s query parameter must be true or false", name)
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func (h *Handler) datatype(x *exchange) error {
	post := x.r.Method == http.MethodPost
	// riak_kv_wm_crdt's order: malformed request (content type, then
	// parameters), then the bucket type, then the bucket's datatype.
	if post {
		mt, _, _ := mime.ParseMediaType(x.r.Header.Get("Content-Type"))
		if mt != "application/json" {
			x.w.WriteHeader(http.StatusNotAcceptable)
			return nil
		}
	}
	q, err := parseQuorum(x.query)
	if err != nil {
		return err
	}
	inclCtx, err := dtBoolParam(x.query, "include_context", true)
	if err != nil {
		return err
	}
	returnBody, err := dtBoolParam(x.query, "returnbody", false)
	if err != nil {
		return err
	}
	typ := x.rt.Type
	if typ == "" || typ == kv.DefaultType {
		// Riak sends these to its legacy counters, which the devnode lacks.
		x.w.Header().Set("Location", "/buckets/"+url.QueryEscape(x.rt.Bucket)+"/counters/"+url.QueryEscape(x.rt.Key))
		textError(x.w, http.StatusMovedPermanently, "Counters in the default bucket-type should use the legacy URL\n")
		return nil
	}
	ctx, cancel := withTimeout(x.r.Context(), q.Timeout)
	defer cancel()
	kind, err := crdt.BucketKind(ctx, h.svc, typ, x.rt.Bucket)
	var be *crdt.BucketError
	if errors.As(err, &be) {
		status := http.StatusForbidden
		if be.NoType {
			status = http.StatusNotFound
		}
		textError(x.w, status, be.HTTPMessage())
		return nil
	}
	if err != nil {
		return err
	}
	if !post {
		if x.rt.Key == "" {
			return dtNotFound(x.w, kind)
		}
		r, err := crdt.Fetch(ctx, h.svc, kind, typ, x.rt.Bucket, x.rt.Key, q)
		if err != nil {
			return err
		}
		if !r.Found {
			return dtNotFound(x.w, kind)
		}
		return writeDT(x.w, http.StatusOK, r.Value, inclCtx)
	}
	body, err := io.ReadAll(http.MaxBytesReader(x.w, x.r.Body, h.maxBody))
	if err != nil {
		return err
	}
	op, opCtx, err := crdt.OpFromJSON(kind, body)
	var je *crdt.JSONError
	if errors.As(err, &je) {
		textError(x.w, http.StatusBadRequest, je.Msg)
		return nil
	}
	if err != nil {
		return err
	}
	var rawCtx []byte
	if opCtx != nil {
		rawCtx = crdt.EncodeContext(opCtx)
	}
	res, err := crdt.Apply(ctx, h.svc, kind, crdt.Update{
		Type: typ, Bucket: x.rt.Bucket, Key: x.rt.Key, Op: op, Context: rawCtx, Quorum: q,
	})
	var pe *crdt.PreconditionError
	if errors.As(err, &pe) {
		// riak_kv_wm_crdt's catch-all for put errors.
		textError(x.w, http.StatusInternalServerError, fmt.Sprintf("Error:\n%s\n", pe.Error()))
		return nil
	}
	if err != nil {
		return err
	}
	status := http.StatusNoContent
	if x.rt.Key == "" {
		// webmachine answers 201 when the resource set Location.
		x.w.Header().Set("Location", "/types/"+url.PathEscape(typ)+"/buckets/"+url.PathEscape(x.rt.Bucket)+"/datatypes/"+url.PathEscape(res.Key))
		status = http.StatusCreated
	}
	if returnBody {
		if status == http.StatusNoContent {
			status = http.StatusOK
		}
		return writeDT(x.w, status, res.Value, inclCtx)
	}
	x.w.WriteHeader(status)
	return nil
}

func writeDT(w http.ResponseWriter, status int, v *crdt.Value, inclCtx bool) error {
	b, err := crdt.ToJSON(v, inclCtx)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func dtNotFound(w http.ResponseWriter, kind crdt.Kind) error {
	return writeJSON(w, http.StatusNotFound, map[string]string{"type": string(kind), "error": "notfound"})
}
