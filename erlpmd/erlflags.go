package erlpmd

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// ErlModule is the Erlang module that routes every node lookup of an
// Erlang VM through its local erlpmd (erl's -epmd_module).
const ErlModule = "rmf_epmd"

// erlModuleSource is rmf_epmd.erl, shipped as source and compiled on the
// host by the Erlang that will load it (so it loads on any OTP from 21 on).
//
//go:embed rmf_epmd.erl
var erlModuleSource []byte

// ErlFlags writes rmf_epmd.erl into dir, compiles it there with erlc (a
// path, or "" for the erlc in $PATH; use the Riak release's own
// erts-*/bin/erlc for Riak) and returns the erl flags that make a node
// register with, and look every node up through, the erlpmd at
// 127.0.0.1:port:
//
//	-pa DIR -epmd_module rmf_epmd -epmd_port PORT -start_epmd false
//
// Without the module, Erlang asks the EPMD of the remote node's host on
// its own port, where nothing listens when every node has an erlpmd of
// its own (see docs/erlpmd.md).
func ErlFlags(ctx context.Context, erlc, dir string, port int) ([]string, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("erlpmd: erl flags: port %d out of range", port)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("erlpmd: erl flags: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("erlpmd: erl flags: %w", err)
	}
	src := filepath.Join(abs, ErlModule+".erl")
	if err := os.WriteFile(src, erlModuleSource, 0o644); err != nil {
		return nil, fmt.Errorf("erlpmd: erl flags: %w", err)
	}
	if erlc == "" {
		if erlc, err = exec.LookPath("erlc"); err != nil {
			return nil, errors.New("erlpmd: erl flags: erlc not found in $PATH (install erlang-base, or give the release's erts-*/bin/erlc)")
		}
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, erlc, "-o", abs, src)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("erlpmd: erl flags: compile %s: %v: %s", src, err, bytes.TrimSpace(out.Bytes()))
	}
	return []string{"-pa", abs, "-epmd_module", ErlModule, "-epmd_port", strconv.Itoa(port), "-start_epmd", "false"}, nil
}
