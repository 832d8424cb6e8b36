package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
)

// The http driver uses Riak's HTTP API (/types/default/buckets/B/keys/K):
// GET, PUT (update: GET then PUT with X-Riak-Vclock) and DELETE.

type httpDriver struct {
	client *http.Client
	base   string
}

func newHTTPDriver(cfg DriverConfig) *httpDriver {
	tr := &http.Transport{MaxIdleConns: cfg.Concurrency + 8, MaxIdleConnsPerHost: cfg.Concurrency + 8, DisableCompression: true}
	return &httpDriver{
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
		base:   "http://" + cfg.HTTPAddr + "/types/default/buckets/" + url.PathEscape(cfg.Bucket) + "/keys/",
	}
}

func (d *httpDriver) NewWorker(int) (Worker, error) { return &httpWorker{d: d}, nil }

func (d *httpDriver) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

type httpWorker struct{ d *httpDriver }

func (w *httpWorker) do(method, key string, body []byte, vclock string) (string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, w.d.base+url.PathEscape(key), rd)
	if err != nil {
		return "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if vclock != "" {
		req.Header.Set("X-Riak-Vclock", vclock)
	}
	resp, err := w.d.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMultipleChoices:
		return resp.Header.Get("X-Riak-Vclock"), nil
	}
	return "", &httpStatusError{code: resp.StatusCode}
}

func (w *httpWorker) Do(op Op, key, value []byte) error {
	k := string(key)
	switch op {
	case OpGet:
		_, err := w.do(http.MethodGet, k, nil, "")
		return err
	case OpPut:
		_, err := w.do(http.MethodPut, k, value, "")
		return err
	case OpUpdate:
		vc, err := w.do(http.MethodGet, k, nil, "")
		if err != nil {
			return err
		}
		_, err = w.do(http.MethodPut, k, value, vc)
		return err
	default:
		_, err := w.do(http.MethodDelete, k, nil, "")
		return err
	}
}

func (w *httpWorker) Close() error { return nil }
