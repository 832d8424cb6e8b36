package testutil

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var rmfBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// RMF returns the path of an rmf binary built from this module, building
// it once per test process (every test of a package shares it). Call
// CleanupRMF from TestMain to remove it; without that it is left in the
// temporary directory.
func RMF(t testing.TB) string {
	t.Helper()
	b := &rmfBuild
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "rmf-test-bin")
		if b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "rmf")
		// Static, as make build makes it (see the Makefile).
		cmd := exec.Command("go", "build", "-o", b.bin, "github.com/rmf-go/rmf/cmd/rmf")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = errors.New("testutil: go build rmf: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// CleanupRMF removes the binary RMF built, if any (call it from TestMain
// after m.Run).
func CleanupRMF() {
	if rmfBuild.dir != "" {
		_ = os.RemoveAll(rmfBuild.dir)
	}
}
