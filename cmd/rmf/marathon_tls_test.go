package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMarathonTLS: with --tls-cert/--tls-key the apps pass the files to
// the real commands, advertise an https:// API, and are health-checked
// over HTTPS (HTTPS by Marathon, MESOS_HTTPS by the agent).
func TestMarathonTLS(t *testing.T) {
	tlsFlags := []string{"--tls-cert", "/etc/rmf/tls/cert.pem", "--tls-key", "/etc/rmf/tls/key.pem"}
	tests := []struct {
		name, health string
		args         []string
		want         map[string]string
	}{
		{"scheduler", "HTTPS", append([]string{"scheduler", "--rmf-uri", "http://files/rmf", "--master", "zk://zk1:2181,zk2:2181/mesos", "--zk", "zk:2181"}, tlsFlags...),
			map[string]string{"advertise-api": "https://agent-3.example:31007", "master": "zk://zk1:2181,zk2:2181/mesos"}},
		{"director", "MESOS_HTTPS", append([]string{"director", "--rmf-uri", "http://files/rmf", "--zk", "zk:2181", "--cluster", "c1"}, tlsFlags...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := marathonJSON(t, tt.args...)
			if hc := app.HealthChecks[0]; hc.Protocol != tt.health {
				t.Errorf("health check protocol %q, want %s", hc.Protocol, tt.health)
			}
			args, _, err := sandboxRun(t, app, "rmf", nil)
			if err != nil {
				t.Fatal(err)
			}
			got := parseWithRealCommand(t, args)
			want := map[string]string{"tls-cert": "/etc/rmf/tls/cert.pem", "tls-key": "/etc/rmf/tls/key.pem"}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("--%s = %q, want %q (cmd %q)", k, got[k], v, app.Cmd)
				}
			}
		})
	}
	for _, bad := range [][]string{
		{"--tls-cert", "/etc/rmf/tls/cert.pem"},
		{"--tls-key", "/etc/rmf/tls/key.pem"},
		{"--tls-cert", "cert.pem", "--tls-key", "/etc/rmf/tls/key.pem"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"marathon", "director", "--rmf-uri", "http://files/rmf", "--zk", "zk:2181", "--cluster", "c1"}, bad...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "--tls-") {
			t.Errorf("%v: exit %d, %q", bad, code, stderr.String())
		}
	}
}
