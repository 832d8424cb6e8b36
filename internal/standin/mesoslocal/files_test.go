package mesoslocal_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// TestFilesAPI: an agent's /files/read and /files/browse answer as
// Mesos': the size at offset -1, data and offset otherwise, 404 outside
// the agent's work directory (symlinks followed), 400 for bad input.
func TestFilesAPI(t *testing.T) {
	m, _ := startMaster(t, 1)
	testutil.WaitFor(t, 10*time.Second, "the agent up", func() bool {
		st := m.State()
		return len(st.Agents) == 1 && st.Agents[0].Up && st.Agents[0].ExecutorAPI != ""
	})
	a := m.State().Agents[0]
	dir := filepath.Join(a.WorkDir, "sandbox")
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := "line one\nline two\n"
	if err := os.WriteFile(filepath.Join(dir, "log", "console.log"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	_ = os.WriteFile(outside, []byte("no"), 0o644)
	_ = os.Symlink(outside, filepath.Join(dir, "escape"))
	get := func(t *testing.T, path string, q url.Values) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + a.ExecutorAPI + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type read struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	file := filepath.Join(dir, "log", "console.log")
	for _, tc := range []struct {
		name   string
		q      url.Values
		code   int
		want   read
		errHas string
	}{
		{"size", url.Values{"path": {file}, "offset": {"-1"}}, 200, read{"", int64(len(content))}, ""},
		{"no offset is the size", url.Values{"path": {file}}, 200, read{"", int64(len(content))}, ""},
		{"from 5, 3 bytes", url.Values{"path": {file}, "offset": {"5"}, "length": {"3"}}, 200, read{"one", 5}, ""},
		{"to the end", url.Values{"path": {file}, "offset": {"9"}}, 200, read{"line two\n", 9}, ""},
		{"past the end", url.Values{"path": {file}, "offset": {"1000"}}, 200, read{"", int64(len(content))}, ""},
		{"missing", url.Values{"path": {filepath.Join(dir, "nope")}, "offset": {"0"}}, 404, read{}, "Failed to find"},
		{"outside", url.Values{"path": {outside}, "offset": {"0"}}, 404, read{}, "Failed to find"},
		{"symlink out", url.Values{"path": {filepath.Join(dir, "escape")}, "offset": {"0"}}, 404, read{}, "Failed to find"},
		{"relative", url.Values{"path": {"log/console.log"}}, 400, read{}, "must be absolute"},
		{"no path", url.Values{}, 400, read{}, "Missing 'path'"},
		{"bad offset", url.Values{"path": {file}, "offset": {"x"}}, 400, read{}, "Failed to parse offset"},
		{"directory", url.Values{"path": {dir}, "offset": {"0"}}, 400, read{}, "Cannot read a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, "/files/read", tc.q)
			if code != tc.code {
				t.Fatalf("status %d (%s), want %d", code, body, tc.code)
			}
			if tc.code != 200 {
				if !strings.Contains(body, tc.errHas) {
					t.Errorf("body %q, want %q", body, tc.errHas)
				}
				return
			}
			var got read
			if err := json.Unmarshal([]byte(body), &got); err != nil || got != tc.want {
				t.Errorf("read %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
	code, body := get(t, "/files/browse", url.Values{"path": {filepath.Join(dir, "log")}})
	var ls []struct {
		Path string
		Size int64
		Mode string
	}
	if err := json.Unmarshal([]byte(body), &ls); code != 200 || err != nil || len(ls) != 1 || ls[0].Path != file || ls[0].Size != int64(len(content)) || ls[0].Mode != "-rw-r--r--" {
		t.Errorf("browse: %d %s", code, body)
	}
	if code, _ := get(t, "/files/browse", url.Values{"path": {filepath.Dir(outside)}}); code != 404 {
		t.Errorf("browse outside the work directory: %d, want 404", code)
	}
}
