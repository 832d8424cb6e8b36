package httpserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// bucketPropsJSON is a bucket's props object as GET .../props shows it:
// kv's JSON form plus the bucket's "name".
func bucketPropsJSON(p kv.BucketProps, bucket string) (map[string]any, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["name"] = bucket
	return m, nil
}

func (h *Handler) getBucketProps(x *exchange) error {
	p, err := h.svc.BucketProps(x.r.Context(), x.rt.Type, x.rt.Bucket)
	if err != nil {
		return err
	}
	m, err := bucketPropsJSON(p, x.rt.Bucket)
	if err != nil {
		return err
	}
	return writeJSON(x.w, http.StatusOK, map[string]any{"props": m})
}

// readProps reads a props PUT body: a JSON object {"props":{...}} with
// Content-Type application/json (riak_kv_wm_props).
func (h *Handler) readProps(x *exchange) (kv.PropsUpdate, error) {
	body, err := h.readBody(x, min(h.maxBody, maxPropsBody))
	if err != nil {
		return kv.PropsUpdate{}, err
	}
	var outer map[string]json.RawMessage
	var inner map[string]json.RawMessage
	if json.Unmarshal(body, &outer) != nil || json.Unmarshal(outer["props"], &inner) != nil || inner == nil {
		return kv.PropsUpdate{}, badRequest(`bucket PUT must be a JSON object of the form: {"props":{...bucket properties...}}`)
	}
	if mt, _, err := mime.ParseMediaType(x.r.Header.Get("Content-Type")); err != nil || !strings.EqualFold(mt, "application/json") {
		return kv.PropsUpdate{}, errStatus(http.StatusUnsupportedMediaType, "props must be sent as Content-Type: application/json")
	}
	wrapped, err := json.Marshal(map[string]json.RawMessage{"props": outer["props"]})
	if err != nil {
		return kv.PropsUpdate{}, err
	}
	return kv.ParseProps(wrapped)
}

func (h *Handler) putBucketProps(x *exchange) error {
	u, err := h.readProps(x)
	if err != nil {
		return err
	}
	if err := h.svc.SetBucketProps(x.r.Context(), x.rt.Type, x.rt.Bucket, u); err != nil {
		return err
	}
	x.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getTypeProps(x *exchange) error {
	bt, err := h.svc.BucketType(x.r.Context(), x.rt.Type)
	if err != nil {
		return err
	}
	return writeJSON(x.w, http.StatusOK, map[string]any{"props": bt.Props})
}

func (h *Handler) putTypeProps(x *exchange) error {
	u, err := h.readProps(x)
	if err != nil {
		return err
	}
	if err := h.svc.SetBucketTypeProps(x.r.Context(), x.rt.Type, u); err != nil {
		return err
	}
	x.w.WriteHeader(http.StatusNoContent)
	return nil
}
