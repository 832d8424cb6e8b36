package tlsconf_test

import (
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/tlsconf"
)

// serve runs an HTTP server on loopback, over TLS with cfg set; it
// returns host:port.
func serve(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	cfg, err := tlsconf.Server(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() {
		if cfg != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func client(t *testing.T, caFile string) *http.Client {
	t.Helper()
	cfg, err := tlsconf.Client(caFile)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tlsconf.Transport(cfg)}
}

func TestTLSListener(t *testing.T) {
	ca := testutil.NewTestCA(t)
	addr := serve(t, ca.CertFile, ca.KeyFile)
	url := "https://" + addr + "/"

	// Trusting the test CA: the answer.
	resp, err := client(t, ca.CAFile).Get(url)
	if err != nil {
		t.Fatalf("GET with --ca-file: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || resp.TLS == nil {
		t.Errorf("answer %q over TLS %v", b, resp.TLS != nil)
	}
	// Not trusting it: one line naming the flag.
	_, err = client(t, "").Get(url)
	if line := tlsconf.Explain(err, url); !strings.Contains(line, "unknown authority: give its CA with --ca-file") {
		t.Errorf("unknown CA: Explain = %q (err %v)", line, err)
	}
	// Plain HTTP to the TLS listener: Go's 400, recognised.
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !tlsconf.IsPlainToTLS(resp.StatusCode, b) {
		t.Errorf("plain HTTP to TLS: %d %q not recognised", resp.StatusCode, b)
	}
	if line := tlsconf.PlainToTLSLine("http://" + addr); !strings.Contains(line, "use an https:// URL") {
		t.Errorf("PlainToTLSLine = %q", line)
	}
	// The certificate is for 127.0.0.1 and localhost, not another name.
	cfg, err := tlsconf.Client(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "other.example"
	_, err = (&http.Client{Transport: tlsconf.Transport(cfg)}).Get(url)
	if line := tlsconf.Explain(err, url); !strings.Contains(line, "not valid for this host") {
		t.Errorf("wrong host: Explain = %q (err %v)", line, err)
	}
}

func TestHTTPSToPlainListener(t *testing.T) {
	addr := serve(t, "", "")
	url := "https://" + addr + "/"
	_, err := client(t, "").Get(url)
	if line := tlsconf.Explain(err, url); !strings.Contains(line, "does not speak TLS: use an http:// URL") {
		t.Errorf("https to plain: Explain = %q (err %v)", line, err)
	}
	if line := tlsconf.Explain(io.EOF, url); line != "" {
		t.Errorf("Explain(EOF) = %q, want empty", line)
	}
}

func TestLoadErrors(t *testing.T) {
	ca := testutil.NewTestCA(t)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		load      func() error
		wantError string
	}{
		{"no TLS", func() error { c, err := tlsconf.Server("", ""); _ = c; return err }, ""},
		{"cert only", func() error { _, err := tlsconf.Server(ca.CertFile, ""); return err }, "--tls-key"},
		{"key only", func() error { _, err := tlsconf.Server("", ca.KeyFile); return err }, "--tls-cert"},
		{"key is not the cert's", func() error { _, err := tlsconf.Server(ca.CAFile, ca.KeyFile); return err }, "private key does not match"},
		{"missing cert", func() error { _, err := tlsconf.Server("/nonexistent.pem", ca.KeyFile); return err }, "no such file"},
		{"CA file", func() error { _, err := tlsconf.Client(ca.CAFile); return err }, ""},
		{"CA file missing", func() error { _, err := tlsconf.Client("/nonexistent.pem"); return err }, "no such file"},
		{"CA file without PEM", func() error { _, err := tlsconf.Client(junk); return err }, "no PEM certificate"},
		{"CA file is a key", func() error { _, err := tlsconf.Client(ca.KeyFile); return err }, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if tt.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("error %v, want one with %q", err, tt.wantError)
			}
		})
	}
	if c, err := tlsconf.Server("", ""); c != nil || err != nil {
		t.Errorf("Server with no files = %v, %v; want nil, nil", c, err)
	}
}
