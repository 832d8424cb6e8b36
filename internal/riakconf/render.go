package riakconf

import (
	"bytes"
	"fmt"
	"text/template"
	"text/template/parse"

	"github.com/rmf-go/rmf/internal/nodetask"
)

// Limits of a template, so that a hostile one (the templates come from the
// scheduler API) can neither hang the executor nor exhaust its memory:
// execution is linear in the text, whose size is bounded, and so is the
// output.
const (
	// MaxTemplateSize bounds a template's text.
	MaxTemplateSize = nodetask.MaxTemplateSize
	// MaxRenderedSize bounds a rendered template.
	MaxRenderedSize = 1 << 20
	// maxPrintfWidth bounds a printf width or precision.
	maxPrintfWidth = 1024
)

// Render executes one template (name is used in errors) with v. Unknown
// variables and syntax errors are reported with the template's name, and
// so are templates that break the limits: larger than MaxTemplateSize,
// rendering more than MaxRenderedSize, using range or template actions
// (the variables are scalars: there is nothing to range over), or printf
// widths above 1024 or given by '*'.
func Render(name, text string, v Vars) (string, error) {
	if len(text) > MaxTemplateSize {
		return "", fmt.Errorf("template %s: %d bytes (max %d)", name, len(text), MaxTemplateSize)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"printf": boundedPrintf}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	for _, t := range tmpl.Templates() {
		if t.Tree == nil {
			continue
		}
		if err := checkActions(t.Root); err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
	}
	b := limitedBuffer{max: MaxRenderedSize}
	if err := tmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// checkActions rejects range and template (and so block) actions, the
// only ones that execute a part of a template more than once.
func checkActions(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkActions(c); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return fmt.Errorf("line %d: range is not supported", n.Line)
	case *parse.TemplateNode:
		return fmt.Errorf("line %d: template calls are not supported", n.Line)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkActions(b.List); err != nil {
		return err
	}
	return checkActions(b.ElseList)
}

// boundedPrintf is fmt.Sprintf without widths or precisions above
// maxPrintfWidth or taken from an argument ('*'): fmt allows up to 10^6,
// which lets a short template allocate gigabytes.
func boundedPrintf(format string, args ...any) (string, error) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(format); i++ {
			c := format[i]
			if c == '*' {
				return "", fmt.Errorf("printf %q: '*' widths are not supported", format)
			}
			if c < '0' || c > '9' {
				n = 0
				if c == '%' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
					break
				}
				continue
			}
			if n = n*10 + int(c-'0'); n > maxPrintfWidth {
				return "", fmt.Errorf("printf %q: width or precision above %d", format, maxPrintfWidth)
			}
		}
	}
	return fmt.Sprintf(format, args...), nil
}

// limitedBuffer collects output up to max bytes and fails writes beyond.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		return 0, fmt.Errorf("output larger than %d bytes", b.max)
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string { return b.buf.String() }
