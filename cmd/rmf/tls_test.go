package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/tlsconf"
)

// startProc runs the rmf binary with args until the test ends.
func startProc(t *testing.T, bin string, args ...string) *testutil.SyncBuffer {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rmf %s:\n%s", args[0], out.String())
		}
	})
	return out
}

// caClient trusts the test CA only.
func caClient(ca *testutil.TestCA) *http.Client {
	return &http.Client{Transport: tlsconf.Transport(&tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})}
}

// plainGet sends plain HTTP to addr and returns the status and body.
func plainGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("plain GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSchedulerTLS: `rmf scheduler --tls-cert --tls-key` serves its API
// and page over HTTPS with a certificate of a test CA. The CLI reaches
// it with --ca-file (by --api, and by the https:// URL the scheduler
// publishes in ZooKeeper), and says in one line what is wrong without
// the CA or over plain HTTP; plain HTTP gets Go's 400; Chromium renders
// the page over HTTPS.
func TestSchedulerTLS(t *testing.T) {
	testutil.RequireZooKeeper(t)
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	ca := testutil.NewTestCA(t)
	api := testutil.FreeAddr(t)
	startProc(t, bin, "scheduler", "--master", "http://127.0.0.1:1", "--zk", z.Addr, "--api", api,
		"--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile)
	https := "https://" + api
	client := caClient(ca)
	testutil.WaitFor(t, 30*time.Second, "scheduler API over TLS", func() bool {
		resp, err := client.Get(https + "/api/v1/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.TLS != nil
	})

	rmf := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	oneLine := func(s string) bool { return strings.Count(strings.TrimSpace(s), "\n") == 0 }
	if code, _, stderr := rmf("cluster", "create", "tls1", "--api", https, "--ca-file", ca.CAFile); code != exitOK {
		t.Fatalf("create over TLS with --ca-file: exit %d, %q", code, stderr)
	}
	if code, out, stderr := rmf("cluster", "list", "--zk", z.Addr, "--ca-file", ca.CAFile); code != exitOK || !strings.Contains(out, "tls1") {
		t.Fatalf("list by the URL in ZooKeeper: exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, _, stderr := rmf("cluster", "list", "--api", https)
	if code != exitFailure || !oneLine(stderr) || !strings.Contains(stderr, "signed by an unknown authority: give its CA with --ca-file") {
		t.Errorf("without --ca-file: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = rmf("cluster", "list", "--api", "http://"+api)
	if code != exitFailure || !oneLine(stderr) || !strings.Contains(stderr, "is served over TLS") || !strings.Contains(stderr, "use an https:// URL") {
		t.Errorf("plain http:// to the TLS API: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = rmf("cluster", "list", "--api", https, "--ca-file", "/nonexistent/ca.pem")
	if code != exitUsage || !oneLine(stderr) || !strings.Contains(stderr, "--ca-file") {
		t.Errorf("missing --ca-file: exit %d, stderr %q", code, stderr)
	}
	if status, body := plainGet(t, "http://"+api+"/"); status != http.StatusBadRequest || !strings.Contains(body, tlsconf.PlainToTLSBody) {
		t.Errorf("plain HTTP to the TLS API: %d %q, want 400 %q", status, body, tlsconf.PlainToTLSBody)
	}

	// Chromium: the page over HTTPS. Chromium reads trusted CAs from an
	// NSS database only, so the test trusts the server key's SPKI instead.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", ca.SPKI))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(https+"/"), chromedp.WaitVisible("#framework")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.protocol + " " + document.title + " " + document.getElementById("clusters").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "https: RMF-Go scheduler") {
		t.Errorf("page over HTTPS: %q", got)
	}
	if !testutil.Eventually(10*time.Second, func() bool {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("clusters").textContent`))
		return strings.Contains(got, "tls1")
	}) {
		t.Errorf("page does not list cluster tls1: %q", got)
	}
}

// TestDirectorTLS: `rmf director --tls-cert --tls-key` serves its admin
// and HTTP listeners over TLS; plain HTTP to them gets Go's 400.
func TestDirectorTLS(t *testing.T) {
	bin := testutil.RMF(t)
	ca := testutil.NewTestCA(t)
	admin, httpAddr, pb := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	startProc(t, bin, "director", "--pb", pb, "--http", httpAddr, "--admin", admin, "--node", "127.0.0.1:1,127.0.0.1:2",
		"--tls-cert", ca.CertFile, "--tls-key", ca.KeyFile)
	client := caClient(ca)
	testutil.WaitFor(t, 30*time.Second, "director admin over TLS", func() bool {
		resp, err := client.Get("https://" + admin + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && resp.TLS != nil
	})
	// The HTTP listener speaks TLS too (its answer is the proxy's: no
	// node is up).
	resp, err := client.Get("https://" + httpAddr + "/ping")
	if err != nil {
		t.Fatalf("director HTTP listener over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.TLS == nil {
		t.Error("director HTTP listener answered without TLS")
	}
	for _, addr := range []string{admin, httpAddr} {
		if status, body := plainGet(t, "http://"+addr+"/"); status != http.StatusBadRequest || !strings.Contains(body, tlsconf.PlainToTLSBody) {
			t.Errorf("plain HTTP to %s: %d %q, want 400 %q", addr, status, body, tlsconf.PlainToTLSBody)
		}
	}
	// A key without its certificate is a usage error.
	var out, errb bytes.Buffer
	if code := run([]string{"director", "--node", "127.0.0.1:1,127.0.0.1:2", "--tls-key", ca.KeyFile}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "--tls-cert") {
		t.Errorf("--tls-key alone: exit %d, %q", code, errb.String())
	}
}

// chromiumPath finds Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not installed: run `make test` (it installs it)")
	return ""
}
