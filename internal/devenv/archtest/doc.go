// Package archtest keeps docs/architecture.md true: its test checks the
// package table ("who may import whom") against what `go list` says the
// module's packages import, and that no product package depends on a
// stand-in. It has no code outside its test; run it with
//
//	go test ./internal/devenv/archtest
package archtest
