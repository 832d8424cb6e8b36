package mesoslocal

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The agent's files API, as Mesos' /files/read and /files/browse answer:
// read gives {"data": ..., "offset": ...} of a file (offset -1 or absent:
// no data, the file's size as the offset), browse lists a directory.
// Only files under the agent's work directory (sandboxes, volumes) are
// served, symlinks resolved.

// maxFileRead bounds one /files/read (Mesos pages by 16 pages of 4 KiB
// by default; a larger length is cut to this).
const maxFileRead = 1 << 20

// FileInfo is one entry of /files/browse (Mesos' JSON).
type FileInfo struct {
	Path  string  `json:"path"`
	NLink int     `json:"nlink"`
	Size  int64   `json:"size"`
	MTime float64 `json:"mtime"`
	Mode  string  `json:"mode"`
	UID   string  `json:"uid"`
	GID   string  `json:"gid"`
}

// resolveFile checks that path (absolute) lies under the agent's work
// directory once symlinks are resolved, and returns the resolved path.
func (a *agent) resolveFile(p string) (string, int, string) {
	if p == "" {
		return "", http.StatusBadRequest, "Missing 'path' query parameter"
	}
	if !filepath.IsAbs(p) {
		return "", http.StatusBadRequest, "Path '" + p + "' must be absolute"
	}
	root, err := filepath.EvalSymlinks(a.dir)
	if err != nil {
		return "", http.StatusNotFound, "Failed to find '" + p + "'"
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		return "", http.StatusNotFound, "Failed to find '" + p + "'"
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", http.StatusNotFound, "Failed to find '" + p + "'"
	}
	return real, 0, ""
}

func (a *agent) serveFilesRead(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, code, msg := a.resolveFile(q.Get("path"))
	if code != 0 {
		http.Error(w, msg, code)
		return
	}
	offset := int64(-1)
	if v := q.Get("offset"); v != "" {
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil || o < -1 {
			http.Error(w, "Failed to parse offset: "+v, http.StatusBadRequest)
			return
		}
		offset = o
	}
	length := int64(maxFileRead)
	if v := q.Get("length"); v != "" {
		l, err := strconv.ParseInt(v, 10, 64)
		if err != nil || l < -1 {
			http.Error(w, "Failed to parse length: "+v, http.StatusBadRequest)
			return
		}
		if l >= 0 && l < length {
			length = l
		}
	}
	f, err := os.Open(p)
	if err != nil {
		http.Error(w, "Failed to open file: "+err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if fi.IsDir() {
		http.Error(w, "Cannot read a directory", http.StatusBadRequest)
		return
	}
	size := fi.Size()
	if offset == -1 {
		writeJSON(w, http.StatusOK, map[string]any{"data": "", "offset": size})
		return
	}
	if offset > size {
		offset = size
	}
	buf := make([]byte, min(length, size-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": string(buf[:n]), "offset": offset})
}

func (a *agent) serveFilesBrowse(w http.ResponseWriter, r *http.Request) {
	p, code, msg := a.resolveFile(r.URL.Query().Get("path"))
	if code != 0 {
		http.Error(w, msg, code)
		return
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		http.Error(w, "Failed to browse '"+r.URL.Query().Get("path")+"': "+err.Error(), http.StatusNotFound)
		return
	}
	out := []FileInfo{}
	base := filepath.Clean(r.URL.Query().Get("path"))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, FileInfo{Path: filepath.Join(base, e.Name()), NLink: 1, Size: fi.Size(),
			MTime: float64(fi.ModTime().UnixNano()) / 1e9, Mode: modeString(fi.Mode()), UID: "", GID: ""})
	}
	writeJSON(w, http.StatusOK, out)
}

// modeString is ls -l's mode, as Mesos prints it.
func modeString(m fs.FileMode) string { return m.String() }
