package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/rmf-go/rmf/internal/tlsconf"
)

// tlsFlags are a listener's --tls-cert and --tls-key.
type tlsFlags struct{ cert, key string }

func (t *tlsFlags) register(f *pflag.FlagSet, what string) {
	f.StringVar(&t.cert, "tls-cert", "", "PEM certificate (then intermediates) to serve "+what+" over TLS (with --tls-key; default: plain HTTP)")
	f.StringVar(&t.key, "tls-key", "", "PEM private key of --tls-cert")
}

// config loads the pair: nil for plain HTTP, a usage error for files
// that do not make a pair.
func (t *tlsFlags) config() (*tls.Config, error) {
	cfg, err := tlsconf.Server(t.cert, t.key)
	if err != nil {
		return nil, usageErrorf("--tls-cert/--tls-key: %v", err)
	}
	return cfg, nil
}

// scheme is the URL scheme of a listener with cfg.
func scheme(cfg *tls.Config) string {
	if cfg != nil {
		return "https"
	}
	return "http"
}

// serveHTTP serves srv on ln, over TLS when srv.TLSConfig is set.
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// registerCAFile adds the CLI's --ca-file.
func (o *apiOpts) registerCAFile(f *pflag.FlagSet) {
	f.StringVar(&o.caFile, "ca-file", "", "PEM file of CA certificates to trust for an https:// scheduler API, besides the system's")
}

// httpClient is the client of the scheduler API, trusting --ca-file.
func (o *apiOpts) httpClient() (*http.Client, error) {
	cfg, err := tlsconf.Client(o.caFile)
	if err != nil {
		return nil, usageErrorf("--ca-file: %v", err)
	}
	return &http.Client{Transport: tlsconf.Transport(cfg)}, nil
}

// apiCallError is the one line for a failed call to the scheduler API at
// base: TLS failures said plainly.
func apiCallError(base string, err error) error {
	if line := tlsconf.Explain(err, "scheduler API "+base); line != "" {
		return errors.New(line)
	}
	return fmt.Errorf("scheduler API %s: %w", base, unwrapURLError(err))
}
