package bench

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed report.html
var reportHTML string

// dataMarker is replaced by the report's JSON in report.html.
const dataMarker = "/*BENCH_DATA*/null"

// WriteRunReport writes summary.csv, <op>_latencies.csv, summary.json and
// report.html for r into dir (created if needed).
func WriteRunReport(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report dir: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "summary.csv"), func(w io.Writer) error { return WriteSummaryCSV(w, r) }); err != nil {
		return err
	}
	for _, op := range r.Ops {
		name := op.Op
		if err := writeFile(filepath.Join(dir, name+"_latencies.csv"), func(w io.Writer) error { return WriteLatencyCSV(w, r, name) }); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error { return writeJSON(w, r) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return WriteHTML(w, "run", r) })
}

func writeFile(path string, fn func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := fn(&buf); err != nil {
		return fmt.Errorf("bench: %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// WriteSummaryCSV writes basho_bench's summary.csv: one row per window.
func WriteSummaryCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"elapsed", "window", "total", "successful", "failed"})
	for _, s := range r.Series {
		_ = cw.Write([]string{ftoa(s.ElapsedS), ftoa(s.Window), itoa(s.Total), itoa(s.Successful), itoa(s.Failed)})
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// WriteLatencyCSV writes basho_bench's <op>_latencies.csv for op:
// microseconds, one row per window.
func WriteLatencyCSV(w io.Writer, r *Result, op string) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"elapsed", "window", "n", "min", "mean", "median", "95th", "99th", "99_9th", "max", "errors"})
	for _, s := range r.Series {
		for _, o := range s.Ops {
			if o.Op != op {
				continue
			}
			_ = cw.Write([]string{ftoa(s.ElapsedS), ftoa(s.Window), itoa(o.N), ftoa(o.Min), ftoa(o.Mean), ftoa(o.Median),
				ftoa(o.P95), ftoa(o.P99), ftoa(o.P999), ftoa(o.Max), itoa(o.Errors)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteHTML writes the self-contained HTML report: kind is "run" (data a
// *Result) or "compare" (a *Comparison). The data is embedded as JSON and
// drawn as inline SVG by the page's own script; nothing is fetched.
func WriteHTML(w io.Writer, kind string, data any) error {
	payload, err := json.Marshal(map[string]any{"kind": kind, "data": data})
	if err != nil {
		return err
	}
	// json.Marshal escapes <, > and &, so the payload cannot end the script.
	if !strings.Contains(reportHTML, dataMarker) {
		return fmt.Errorf("bench: report template lacks its data marker")
	}
	_, err = io.WriteString(w, strings.Replace(reportHTML, dataMarker, string(payload), 1))
	return err
}
