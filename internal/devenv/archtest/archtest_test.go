package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docPath is the document whose package table is checked, relative to
// the module root.
const docPath = "docs/architecture.md"

// productPackages are the packages that make up what users run; none of
// them may depend, even indirectly, on a stand-in (internal/standin/...)
// outside its tests.
var productPackages = []string{
	"director", "balancer", "protocol", "scheduler", "executor", "erlpmd",
	"internal/zkstate", "internal/nodetask", "internal/httpauth",
}

// row is one line of the package table.
type row struct {
	line     int
	packages []pattern // first column
	allowAll bool      // "all"
	allowed  []pattern // third column
}

// pattern is a package path relative to the module: "protocol" (that
// package) or "internal/standin/devnode/..." (it and every package below).
type pattern struct {
	path    string
	subtree bool
}

func (p pattern) String() string {
	if p.subtree {
		return p.path + "/..."
	}
	return p.path
}

func (p pattern) match(pkg string) bool {
	return pkg == p.path || p.subtree && strings.HasPrefix(pkg, p.path+"/")
}

// goPackage is what `go list -json` says of one package.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// moduleRoot returns the module's directory and path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Path}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	dir, module, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok {
		t.Fatalf("go list -m: %q", out)
	}
	return dir, module
}

// listPackages runs `go list -json ./...` in the module root and returns
// every package by its path relative to the module, with its non-test
// imports and dependencies reduced to the module's own packages (also
// relative).
func listPackages(t *testing.T, dir, module string) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	ours := func(paths []string) []string {
		var rel []string
		for _, p := range paths {
			if r, ok := strings.CutPrefix(p, module+"/"); ok {
				rel = append(rel, r)
			}
		}
		return rel
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue // the module root package, if there ever is one
		}
		p.ImportPath, p.Imports, p.Deps = rel, ours(p.Imports), ours(p.Deps)
		pkgs[rel] = p
	}
	if len(pkgs) == 0 {
		t.Fatal("go list ./... found no packages")
	}
	return pkgs
}

var (
	backquoted = regexp.MustCompile("`([^`]*)`")
	remark     = regexp.MustCompile(`\([^)]*\)`)
	pkgPath    = regexp.MustCompile(`^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*(/\.\.\.)?$`)
)

// parsePattern reads "protocol/", "protocol", "`protocol/`" or
// "internal/standin/devnode/...".
func parsePattern(s string) (pattern, bool) {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "`"))
	s = strings.TrimSuffix(s, "/")
	if !pkgPath.MatchString(s) {
		return pattern{}, false
	}
	if p, ok := strings.CutSuffix(s, "/..."); ok {
		return pattern{path: p, subtree: true}, true
	}
	return pattern{path: s}, true
}

// parseTable reads the table of the "## Packages" section of the
// document: its first column names the package(s) of the row in
// backquotes, its third the packages of ours they may import ("nothing",
// "all", or a comma-separated list; remarks in parentheses are ignored).
func parseTable(t *testing.T, doc []byte) []row {
	t.Helper()
	var rows []row
	inSection, inTable := false, false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			inSection = strings.HasPrefix(line, "## Packages")
			continue
		case !inSection:
			continue
		case !strings.HasPrefix(line, "|"):
			if inTable {
				inSection = false // the table has ended
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Errorf("%s:%d: a package row has 3 columns, this one %d: %s", docPath, n, len(cells), line)
			continue
		}
		first, third := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[2])
		if !inTable { // the header
			if first != "package" || third != "may import (ours)" {
				t.Fatalf("%s:%d: package table header is %q, want | package | owns | may import (ours) |", docPath, n, line)
			}
			inTable = true
			continue
		}
		if strings.Trim(first, "-: ") == "" { // the separator
			continue
		}
		r := row{line: n}
		for _, m := range backquoted.FindAllStringSubmatch(first, -1) {
			p, ok := parsePattern(m[1])
			if !ok {
				t.Errorf("%s:%d: %q is not a package path (a/b/ or a/b/...)", docPath, n, m[1])
				continue
			}
			r.packages = append(r.packages, p)
		}
		if len(r.packages) == 0 {
			t.Errorf("%s:%d: first column names no package in backquotes: %s", docPath, n, first)
			continue
		}
		allowed := strings.TrimSpace(remark.ReplaceAllString(third, ""))
		switch allowed {
		case "all":
			r.allowAll = true
		case "nothing":
		default:
			for _, item := range strings.Split(allowed, ",") {
				p, ok := parsePattern(item)
				if !ok {
					t.Errorf("%s:%d: %q in the third column is not a package path, \"nothing\" or \"all\"", docPath, n, strings.TrimSpace(item))
					continue
				}
				r.allowed = append(r.allowed, p)
			}
		}
		rows = append(rows, r)
	}
	if !inTable {
		t.Fatalf("%s: no package table under \"## Packages\"", docPath)
	}
	return rows
}

// rowOf returns the row covering pkg: the one naming it exactly, else the
// one with the longest subtree pattern that contains it.
func rowOf(rows []row, pkg string) (row, pattern, bool) {
	var best row
	var bestPat pattern
	found := false
	for _, r := range rows {
		for _, p := range r.packages {
			if !p.match(pkg) {
				continue
			}
			better := !found || !p.subtree && bestPat.subtree || p.subtree == bestPat.subtree && len(p.path) > len(bestPat.path)
			if better {
				best, bestPat, found = r, p, true
			}
		}
	}
	return best, bestPat, found
}

// TestPackageTable: every package of the module has a row in the table;
// every import of one of our packages is allowed by its row (a row may
// always import within its own subtree patterns); every package a row
// allows is imported by some package of the row, so that the table
// names neither more nor less than the truth; and no row names a package
// twice.
func TestPackageTable(t *testing.T) {
	t.Parallel()
	dir, module := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(dir, docPath))
	if err != nil {
		t.Fatal(err)
	}
	rows := parseTable(t, doc)
	pkgs := listPackages(t, dir, module)

	seen := map[string]int{}
	for _, r := range rows {
		for _, p := range r.packages {
			if prev, ok := seen[p.String()]; ok {
				t.Errorf("%s:%d: %s already has a row (line %d)", docPath, r.line, p, prev)
			}
			seen[p.String()] = r.line
		}
	}

	used := map[int]map[string]bool{} // row line -> allowed pattern -> used
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range pkgs {
			if !yield(name) {
				return
			}
		}
	})
	for _, name := range names {
		r, own, ok := rowOf(rows, name)
		if !ok {
			t.Errorf("package %s has no row in the package table of %s: add one (| `%s/` | what it owns | what of ours it may import |)", name, docPath, name)
			continue
		}
		if r.allowAll {
			continue
		}
		if used[r.line] == nil {
			used[r.line] = map[string]bool{}
		}
		for _, imp := range pkgs[name].Imports {
			if own.subtree && own.match(imp) {
				continue // within its own subtree
			}
			i := slices.IndexFunc(r.allowed, func(p pattern) bool { return p.match(imp) })
			if i < 0 {
				t.Errorf("%s imports %s, which its row (%s:%d, %s) does not allow: fix the import or the row's \"may import (ours)\" column",
					name, imp, docPath, r.line, allowedText(r))
				continue
			}
			used[r.line][r.allowed[i].String()] = true
		}
	}
	for _, r := range rows {
		exists := slices.ContainsFunc(names, func(name string) bool {
			return slices.ContainsFunc(r.packages, func(p pattern) bool { return p.match(name) })
		})
		if !exists {
			// A package that does not exist (yet, or on this branch): its
			// row can be checked once it does.
			t.Logf("%s:%d: no package matches %v; row skipped", docPath, r.line, r.packages)
			continue
		}
		for _, p := range r.allowed {
			if !used[r.line][p.String()] {
				t.Errorf("%s:%d: the row of %v allows %s, but none of its packages imports it: drop it from the row", docPath, r.line, r.packages, p)
			}
		}
	}
}

func allowedText(r row) string {
	if len(r.allowed) == 0 {
		return "may import nothing of ours"
	}
	var s []string
	for _, p := range r.allowed {
		s = append(s, p.String())
	}
	return "may import " + strings.Join(s, ", ")
}

// TestProductUsesNoStandIn: the stand-ins (devnode for Riak KV,
// mesos-local for Mesos) serve tests and `rmf dev`; no product package
// may depend on them, directly or through another package, outside its
// tests. Only cmd/rmf wires them in.
func TestProductUsesNoStandIn(t *testing.T) {
	t.Parallel()
	dir, module := moduleRoot(t)
	pkgs := listPackages(t, dir, module)
	for _, name := range productPackages {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("product package %s not found by go list", name)
			continue
		}
		for _, dep := range p.Deps {
			if dep == "internal/standin" || strings.HasPrefix(dep, "internal/standin/") {
				t.Errorf("%s depends on %s (a stand-in) outside its tests", name, dep)
			}
		}
	}
}

// TestBackoffVersion: wherever the document states what replaces
// github.com/basho/backoff (as "basho/backoff => github.com/jpillora/backoff
// vX", the form of the go.mod directive), it names the version go.mod
// uses; and it states it at least once.
func TestBackoffVersion(t *testing.T) {
	t.Parallel()
	dir, _ := moduleRoot(t)
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	replace := regexp.MustCompile(`basho/backoff => github\.com/jpillora/backoff (v[0-9][0-9A-Za-z.+-]*)`)
	m := replace.FindSubmatch(gomod)
	if m == nil {
		t.Skip("go.mod no longer replaces github.com/basho/backoff with jpillora/backoff")
	}
	want := string(m[1])
	doc, err := os.ReadFile(filepath.Join(dir, docPath))
	if err != nil {
		t.Fatal(err)
	}
	found := replace.FindAllSubmatch(doc, -1)
	if len(found) == 0 {
		t.Errorf("%s does not state the replacement of basho/backoff (go.mod: basho/backoff => github.com/jpillora/backoff %s)", docPath, want)
	}
	for _, f := range found {
		if string(f[1]) != want {
			t.Errorf("%s says basho/backoff => github.com/jpillora/backoff %s; go.mod replaces it with %s", docPath, f[1], want)
		}
	}
}
