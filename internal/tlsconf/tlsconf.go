// Package tlsconf loads the TLS material of RMF-Go's HTTP listeners (a
// certificate and key, --tls-cert and --tls-key) and clients (the CAs to
// trust, --ca-file), and turns TLS failures into one readable line. One
// place, so every listener and client reads the files the same way.
//
//	srv.TLSConfig, err = tlsconf.Server(certFile, keyFile) // nil, nil: plain HTTP
//	err = srv.ServeTLS(ln, "", "")
//	client := &http.Client{Transport: tlsconf.Transport(tlsconf.Client(caFile))}
package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// MinVersion is the oldest TLS version a listener or client accepts.
const MinVersion = tls.VersionTLS12

// PlainToTLSBody is what Go's http.Server answers (400) to plain HTTP on
// a TLS listener.
const PlainToTLSBody = "Client sent an HTTP request to an HTTPS server."

// Server is the TLS configuration of a listener serving certFile (PEM:
// the certificate, then any intermediates) with keyFile (PEM private
// key). Both empty: nil, nil (plain HTTP); one without the other is an
// error.
func Server(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("tlsconf: a key without a certificate (give --tls-cert too)")
	case keyFile == "":
		return nil, errors.New("tlsconf: a certificate without a key (give --tls-key too)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: certificate %s, key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: MinVersion}, nil
}

// Client is the TLS configuration of a client trusting the system's CAs
// and, if caFile is set, the PEM certificates in it.
func Client(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinVersion}
	if caFile == "" {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA file: %w", err)
	}
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: CA file %s: %w", caFile, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsconf: CA file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Transport is an HTTP transport (http.DefaultTransport's settings) using
// cfg for TLS.
func Transport(cfg *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t
}

// IsPlainToTLS reports whether an answer is a TLS listener's refusal of
// plain HTTP (status 400 with PlainToTLSBody).
func IsPlainToTLS(status int, body []byte) bool {
	return status == http.StatusBadRequest && bytes.Contains(body, []byte(PlainToTLSBody))
}

// Explain is one readable line for a client's TLS failure reaching url,
// or "" if err is not one.
func Explain(err error, url string) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return fmt.Sprintf("%s: its TLS certificate is signed by an unknown authority: give its CA with --ca-file", url)
	case errors.As(err, &hn):
		return fmt.Sprintf("%s: its TLS certificate is not valid for this host (%v)", url, hn.Error())
	case errors.As(err, &ci):
		return fmt.Sprintf("%s: its TLS certificate is not valid: %v", url, ci.Error())
	case errors.As(err, &rh), err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s does not speak TLS: use an http:// URL", url)
	}
	return ""
}

// PlainToTLSLine is the one line a client prints when a TLS listener
// refused its plain HTTP request.
func PlainToTLSLine(url string) string {
	return fmt.Sprintf("%s is served over TLS (it answered %q): use an https:// URL, with --ca-file if its CA is not a system one", url, PlainToTLSBody)
}
