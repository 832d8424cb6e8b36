package director

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// The HTTP side of handleSetBucketType (sticky.go): Riak runs a
// `PUT /types/T/props` on its claimant and gossips it, so the node that
// answered 204 may serve the old properties to the client's next
// `GET /types/T/props` for a few milliseconds. The director holds the
// answer until that node shows every property the PUT set, polling with
// the PB path's backoff and bound and counting in the same counters.
//
// Decide, then act: holdsTypeChange, typePropsWant, propsShow and
// settleNext are pure; holdTypeChange and typePropsOf do the I/O.

// typeHoldMax bounds the hold of an HTTP bucket-type change; a variable
// (always typeSettleMax in production) so that tests can shorten it.
var typeHoldMax = typeSettleMax

// maxHeldBody bounds a held answer's body, read whole before the hold so
// that the hold cannot outlast it (Riak's answer is a 204 without one),
// and a polled GET's props.
const maxHeldBody = 64 << 10

// holdsTypeChange reports whether a request changes a bucket type's
// properties over HTTP: PUT /types/T/props (Riak's riak_kv_wm_bucket_type
// allows HEAD, GET and PUT only). Its body is buffered (ServeHTTP) so that
// the properties it sets can be read without consuming it.
func holdsTypeChange(method string, rt protocol.HTTPRoute) bool {
	return method == http.MethodPut && rt.Kind == protocol.HTTPTypeProps
}

// typePropsWant returns the properties a PUT /types/T/props body sets,
// decoded; nil (no hold) unless it is a JSON object whose "props" is a
// non-empty object.
func typePropsWant(body []byte) map[string]any {
	if props, ok := decodeProps(body); ok && len(props) > 0 {
		return props
	}
	return nil
}

// decodeProps decodes a `{"props":{...}}` body, as Riak's bucket-type
// resource takes and gives it; ok is false unless it is JSON with a
// "props" object.
func decodeProps(body []byte) (props map[string]any, ok bool) {
	var doc struct {
		Props map[string]any `json:"props"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Props == nil {
		return nil, false
	}
	return doc.Props, true
}

// propsShow reports whether a GET /types/T/props body shows every
// property of want with an equal JSON value.
func propsShow(body []byte, want map[string]any) bool {
	props, ok := decodeProps(body)
	if !ok {
		return false
	}
	for k, v := range want {
		got, ok := props[k]
		if !ok || !jsonEqual(got, v) {
			return false
		}
	}
	return true
}

// jsonEqual reports whether two decoded JSON values (encoding/json's
// any: float64, string, bool, nil, []any, map[string]any) are equal:
// numbers as numbers (3 and 3.0), objects whatever their key order.
func jsonEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// settleNext decides after one poll of a hold: stop, and whether the
// change was seen, or sleep wait and poll again. The hold stops when the
// node shows the change, when there is nothing left to wait for (gone:
// the home failed over or the poll failed), or when the next poll would
// come after the deadline.
func settleNext(shown, gone bool, now, deadline time.Time, wait time.Duration) (stop, settled bool) {
	switch {
	case shown:
		return true, true
	case gone || now.Add(wait).After(deadline):
		return true, false
	}
	return false, false
}

// holdTypeChange holds resp, n's 2xx answer to a PUT /types/T/props that
// sets hr.typeWant, until n answers GET /types/T/props with the change,
// for at most typeHoldMax and never past the request's time. It never
// changes the answer: when the node fails, the home moves or time is up,
// the answer goes out as it came (counted in p.typeUnsettled).
func (h *httpProxy) holdTypeChange(req *http.Request, hr *httpRequest, resp *http.Response, n *balancer.Node) {
	p := h.p
	if resp.StatusCode/100 != 2 || !bufferBody(resp) {
		return
	}
	deadline := time.Now().Add(typeHoldMax)
	if d, ok := req.Context().Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	defer cancel()
	for wait := typeSettlePoll; ; wait *= 2 {
		body, gone, err := h.typePropsOf(ctx, req, hr, n)
		if err != nil {
			if hr.client.Err() != nil { // nobody waits for the answer
				return
			}
			p.log.Debug("director: http bucket-type poll failed", "node", n.ID, "path", req.URL.Path, "err", err)
			gone = true
		}
		stop, settled := settleNext(!gone && propsShow(body, hr.typeWant), gone, time.Now(), deadline, wait)
		if stop {
			if !settled {
				p.typeUnsettled.Add(1)
			}
			return
		}
		p.typeSettleWaits.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done(): // the client went away, or the director closes
			t.Stop()
			if hr.client.Err() == nil {
				p.typeUnsettled.Add(1)
			}
			return
		}
	}
}

// bufferBody reads a small answer body whole and puts it back in memory,
// reporting whether it did: the body of a held answer must not depend on
// a backend connection (or a context) that the hold outlasts.
func bufferBody(resp *http.Response) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return true
	}
	if resp.ContentLength < 0 || resp.ContentLength > maxHeldBody {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHeldBody+1))
	_ = resp.Body.Close()
	if err != nil { // the client gets what came, then the same failure
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return false
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return true
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// typePropsOf sends GET /types/T/props (req's path) to n and returns the
// body of its 200 answer; gone when n is no longer the metadata home or
// takes no requests (nothing left to wait for).
func (h *httpProxy) typePropsOf(ctx context.Context, req *http.Request, hr *httpRequest, n *balancer.Node) (body []byte, gone bool, err error) {
	p := h.p
	st := p.state(n)
	if st == nil || p.home.node.Load() != n || !n.Available() {
		return nil, true, nil
	}
	// Bucket-type properties are metadata: their time is not the node's.
	lease, err := n.BeginUntimed()
	if err != nil { // its breaker opened
		return nil, true, nil
	}
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	get := (&http.Request{Method: http.MethodGet, URL: &u, Header: http.Header{"Accept": {"application/json"}}}).WithContext(ctx)
	if a := req.Header.Values("Authorization"); len(a) > 0 {
		get.Header["Authorization"] = a
	}
	// Untimed, so not bound by the try timeout (failover.tryBound).
	resp, err := h.attempt(get, &httpRequest{retryable: true, client: hr.client}, nil, n, st, lease, time.Now(), false)
	if err != nil {
		if s, ok := err.(*httpStop); ok {
			err = s.err
		}
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxHeldBody))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", u.Path, resp.StatusCode)
	}
	return body, false, err
}
