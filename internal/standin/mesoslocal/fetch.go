package mesoslocal

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// maxFetchSize bounds one fetched URI.
const maxFetchSize = 2 << 30

// fetchURI puts one CommandInfo URI into the sandbox, as Mesos' fetcher
// does: http(s) and file URIs or plain paths, saved under their base name
// (or output_file), made executable when asked, and archives (.tar.gz,
// .tgz, .tar, .zip) extracted when extract is true (the default).
func fetchURI(ctx context.Context, u mesos.CommandInfo_URI, sandbox string) error {
	name := filepath.Base(u.Value)
	if u.OutputFile != nil {
		name = u.GetOutputFile()
	}
	if name == "" || name == "." || name == "/" || strings.Contains(name, "..") || strings.ContainsRune(name, '/') {
		return fmt.Errorf("bad output file name %q", name)
	}
	dst := filepath.Join(sandbox, name)
	if err := download(ctx, u.Value, dst); err != nil {
		return err
	}
	if u.GetExecutable() {
		return os.Chmod(dst, 0o755)
	}
	if u.Extract == nil || u.GetExtract() {
		switch {
		case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
			return extractTar(dst, sandbox, true)
		case strings.HasSuffix(name, ".tar"):
			return extractTar(dst, sandbox, false)
		case strings.HasSuffix(name, ".zip"):
			return extractZip(dst, sandbox)
		}
	}
	return nil
}

func download(ctx context.Context, src, dst string) error {
	pu, err := url.Parse(src)
	if err != nil {
		return err
	}
	var r io.ReadCloser
	switch pu.Scheme {
	case "http", "https":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("GET %s: %s", src, resp.Status)
		}
		r = resp.Body
	case "file", "":
		p := pu.Path
		if pu.Scheme == "" {
			p = src
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		r = f
	default:
		return fmt.Errorf("unsupported URI scheme %q", pu.Scheme)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(r, maxFetchSize+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxFetchSize {
		err = fmt.Errorf("%s is larger than %d bytes", src, int64(maxFetchSize))
	}
	return err
}

// inside resolves an archive member's name under dir, refusing escapes.
func inside(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
		return "", fmt.Errorf("archive member %q escapes the sandbox", name)
	}
	return p, nil
}

func extractTar(file, dir string, gz bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := inside(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(p, tr, h.FileInfo().Mode().Perm()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if filepath.IsAbs(h.Linkname) {
				return fmt.Errorf("archive symlink %q points outside the sandbox", h.Name)
			}
			if _, err := inside(dir, filepath.Join(filepath.Dir(h.Name), h.Linkname)); err != nil {
				return err
			}
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}

func extractZip(file, dir string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		p, err := inside(dir, zf.Name)
		if err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		err = writeFile(p, rc, zf.Mode().Perm())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.LimitReader(r, maxFetchSize))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
