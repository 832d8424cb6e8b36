//go:build tools

// Package deps pins the design-card modules that no package imports yet, so
// that `go mod tidy` keeps them in go.mod at the versions the project has
// chosen. Remove an import here once a real package uses that module.
package deps

import (
	_ "github.com/hashicorp/go-memdb"
	_ "github.com/mesos/mesos-go/api/v1/lib"
	_ "github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	_ "github.com/prometheus/client_golang/prometheus"
)
