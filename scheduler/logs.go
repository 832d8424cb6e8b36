package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// A node's logs, read through its agent's files API (Mesos' /files/read;
// mesos-local serves the same): the master's /master/state names the
// agent's address, the agent's /state the executor's sandbox directory.

// LogFiles are the files GET .../logs?file= reads: Riak's console.log,
// error.log and crash.log (platform_log_dir, the sandbox's log/), and
// the executor's stdout and stderr in the sandbox.
var LogFiles = []string{"console", "error", "crash", "stdout", "stderr"}

// MaxLogLines bounds ?lines=.
const MaxLogLines = 10000

// maxLogTail bounds how far back a tail reads (bytes).
const maxLogTail = 4 << 20

// LogChunk is the answer of GET .../logs: Data read from Path, and the
// offset to ask from next (?offset=) to follow the file.
type LogChunk struct {
	File   string `json:"file"`
	Path   string `json:"path"`
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
	// Missing: the file does not exist (yet): Riak writes error.log and
	// crash.log at the first error, so none is no failure.
	Missing bool `json:"missing,omitempty"`
}

// logPath is file's path in the sandbox for the flavor: the devnode has
// no console.log; its log is its standard error (node.stderr).
func logPath(flavor, sandbox, file string) (string, error) {
	switch file {
	case "stdout", "stderr":
		return path.Join(sandbox, file), nil
	case "console", "error", "crash":
		if flavor == nodetask.FlavorDevnode {
			if file == "console" {
				return path.Join(sandbox, "node.stderr"), nil
			}
			return "", apiErr(http.StatusNotFound, "the devnode flavor writes no %s.log: its log is --file console", file)
		}
		return path.Join(sandbox, "log", file+".log"), nil
	}
	return "", apiErr(http.StatusBadRequest, "file %q: want one of %s", file, strings.Join(LogFiles, ", "))
}

func (s *Scheduler) nodeLogs(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	file := q.Get("file")
	if file == "" {
		file = "console"
	}
	if !slices.Contains(LogFiles, file) {
		return 0, nil, apiErr(http.StatusBadRequest, "file %q: want one of %s", file, strings.Join(LogFiles, ", "))
	}
	lines := 100
	if v := q.Get("lines"); v != "" {
		if lines, err = strconv.Atoi(v); err != nil || lines < 0 || lines > MaxLogLines {
			return 0, nil, apiErr(http.StatusBadRequest, "lines %q: want 0..%d", v, MaxLogLines)
		}
	}
	offset := int64(-1)
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 {
			return 0, nil, apiErr(http.StatusBadRequest, "offset %q: want a byte offset (0 or more)", v)
		}
	}
	if n.AgentID == "" || n.TaskID == "" {
		return 0, nil, apiErr(http.StatusConflict, "node %s is %s: it has no task, so no sandbox to read", n.Name, apiState(n))
	}
	ctx := r.Context()
	agent, sandbox, err := s.findSandbox(ctx, n)
	if err != nil {
		return 0, nil, err
	}
	p, err := logPath(s.cfg.Flavor, sandbox, file)
	if err != nil {
		return 0, nil, err
	}
	read := func(off, length int64) (string, int64, error) {
		return s.readFile(ctx, agent, p, off, length)
	}
	_, size, err := read(-1, 0)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return 200, LogChunk{File: file, Path: p, Missing: true}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if offset >= 0 { // follow: what came after offset
		if offset > size {
			offset = size // the file was rotated or truncated
		}
		data, at, err := read(offset, 1<<20)
		if err != nil {
			return 0, nil, err
		}
		return 200, LogChunk{File: file, Path: p, Data: data, Offset: at + int64(len(data))}, nil
	}
	data, err := tail(read, size, lines)
	if err != nil {
		return 0, nil, err
	}
	return 200, LogChunk{File: file, Path: p, Data: data, Offset: size}, nil
}

// tail reads the last lines of a file of size bytes, backwards in chunks.
func tail(read func(off, length int64) (string, int64, error), size int64, lines int) (string, error) {
	if lines == 0 {
		return "", nil
	}
	const chunk = 64 << 10
	var buf string
	for start := size; start > 0 && size-start < maxLogTail; {
		from := max(0, start-chunk)
		data, _, err := read(from, start-from)
		if err != nil {
			return "", err
		}
		buf = data + buf
		start = from
		if strings.Count(strings.TrimSuffix(buf, "\n"), "\n") >= lines {
			break
		}
	}
	ls := strings.SplitAfter(buf, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, ""), nil
}

// findSandbox returns node n's agent address (host:port) and its
// executor's sandbox directory.
func (s *Scheduler) findSandbox(ctx context.Context, n zkstate.NodeRecord) (string, string, error) {
	var ms struct {
		Slaves []struct {
			ID  string `json:"id"`
			PID string `json:"pid"`
		} `json:"slaves"`
		Agents []struct {
			ID          string `json:"id"`
			ExecutorAPI string `json:"executor_api"`
		} `json:"agents"`
	}
	if err := s.getJSON(ctx, s.masterURL()+"/master/state", true, &ms); err != nil {
		return "", "", apiErr(http.StatusBadGateway, "find node %s's agent: %v", n.Name, err)
	}
	addr := ""
	for _, a := range ms.Slaves {
		if a.ID == n.AgentID {
			if _, hp, ok := strings.Cut(a.PID, "@"); ok {
				addr = hp
			}
		}
	}
	for _, a := range ms.Agents {
		if a.ID == n.AgentID {
			addr = a.ExecutorAPI
		}
	}
	if addr == "" {
		return "", "", apiErr(http.StatusBadGateway, "node %s's agent %s is not in the master's state (gone?)", n.Name, n.AgentID)
	}
	var as struct {
		Frameworks []struct {
			Executors []struct {
				ID        string `json:"id"`
				Directory string `json:"directory"`
			} `json:"executors"`
		} `json:"frameworks"`
		Executors []struct {
			ID      string `json:"id"`
			Sandbox string `json:"sandbox"`
		} `json:"executors"`
	}
	if err := s.getJSON(ctx, "http://"+addr+"/state", false, &as); err != nil {
		return "", "", apiErr(http.StatusBadGateway, "node %s's agent %s: %v", n.Name, addr, err)
	}
	want := executorID(n.TaskID)
	for _, f := range as.Frameworks {
		for _, e := range f.Executors {
			if e.ID == want && e.Directory != "" {
				return addr, e.Directory, nil
			}
		}
	}
	for _, e := range as.Executors {
		if e.ID == want && e.Sandbox != "" {
			return addr, e.Sandbox, nil
		}
	}
	return "", "", apiErr(http.StatusConflict, "node %s: agent %s runs no executor %s (the task ended?)", n.Name, addr, want)
}

// readFile is one /files/read of the agent: data at offset (-1: none,
// the size as the offset).
func (s *Scheduler) readFile(ctx context.Context, agent, p string, offset, length int64) (string, int64, error) {
	u := fmt.Sprintf("http://%s/files/read?path=%s&offset=%d", agent, url.QueryEscape(p), offset)
	if offset >= 0 {
		u += "&length=" + strconv.FormatInt(length, 10)
	}
	var fr struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	if err := s.getJSON(ctx, u, false, &fr); err != nil {
		if se, ok := err.(*httpStatusError); ok && se.code == http.StatusNotFound {
			return "", 0, apiErr(http.StatusNotFound, "%s: no such file in the sandbox (yet)", p)
		}
		return "", 0, apiErr(http.StatusBadGateway, "read %s on agent %s: %v", p, agent, err)
	}
	return fr.Data, fr.Offset, nil
}

type httpStatusError struct {
	code int
	msg  string
}

func (e *httpStatusError) Error() string { return e.msg }

// masterURL is the base URL of the master the scheduler calls now (the
// leader once subscribed; Config.Master's first before).
func (s *Scheduler) masterURL() string {
	if s.masters != nil {
		if u := s.masters.current(); u != "" {
			return strings.TrimRight(u, "/")
		}
	}
	u, _, _ := strings.Cut(s.cfg.Master, ",")
	return strings.TrimRight(u, "/")
}

// getJSON GETs u (10 s; the master with the framework's credentials and
// TLS configuration) into v.
func (s *Scheduler) getJSON(ctx context.Context, u string, master bool, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if master && s.cfg.Secret != "" {
		req.SetBasicAuth(s.cfg.Principal, s.cfg.Secret)
	}
	client := http.DefaultClient
	if master && s.cfg.MasterTLS != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: s.cfg.MasterTLS.Clone()}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &httpStatusError{code: resp.StatusCode, msg: fmt.Sprintf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))}
	}
	return json.Unmarshal(b, v)
}
