package mesoslocal

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Defaults of Config's zero values.
const (
	DefaultAgents                = 3
	DefaultAgentResources        = "cpus:4;mem:8192;disk:20000;ports:[31000-31999]"
	DefaultHeartbeatInterval     = 15 * time.Second
	DefaultStatusRetryInterval   = 10 * time.Second
	DefaultAllocationInterval    = time.Second
	DefaultRefuseSeconds         = 5 * time.Second
	DefaultExecutorShutdownGrace = 5 * time.Second
)

// Config describes a local Mesos: one master and Agents agents. Every zero
// value means the documented default.
type Config struct {
	// Agents is the number of agents. Default 3.
	Agents int
	// WorkDir holds each agent's sandboxes and persistent volumes
	// (WorkDir/agent-N/...). Required.
	WorkDir string
	// AgentResources is every agent's resources in Mesos' --resources
	// syntax ("cpus:4;mem:8192;disk:20000;ports:[31000-31999]", a
	// "name(role):value" entry is a static reservation). Agent i's port
	// ranges are shifted down by (i-1) times the ranges' width so agents
	// never share a port: agent-1 31000-31999, agent-2 30000-30999, ...
	// Their own addresses are not enough to keep tasks apart, because all
	// agents are on one machine and some listeners are not bound to the
	// agent's address: real Riak's Erlang distribution listens on every
	// interface, and every executor's erlpmd also listens on
	// 127.0.0.1:<its port>. Default DefaultAgentResources.
	AgentResources string
	// AgentAddresses are the agents' loopback addresses, one per agent (N
	// = Agents): agent i is offered with the i-th as its hostname and IP,
	// its executor API listens there, and its executors get it as
	// LIBPROCESS_IP, so tasks of different agents bind different addresses
	// as on a real cluster. Each must be an IP address this machine can
	// bind (Linux routes all of 127.0.0.0/8 to lo). Default: agent i gets
	// 127.0.0.(i+1), i.e. agent-1 127.0.0.2, agent-2 127.0.0.3, ...
	AgentAddresses []string
	// AgentAttributes are Mesos --attributes strings ("rack:r1;zone:a").
	// One value applies to every agent; N values (N = Agents) give agent i
	// the i-th. Default: none.
	AgentAttributes []string
	// HeartbeatInterval is the period of HEARTBEAT events on scheduler
	// streams (also sent in SUBSCRIBED). Default 15s, as Mesos.
	HeartbeatInterval time.Duration
	// StatusRetryInterval is how long an unacknowledged status update waits
	// before it is sent again. Default 10s, as Mesos' first retry.
	StatusRetryInterval time.Duration
	// AllocationInterval is the period of the offer cycle (offers are also
	// made at once when resources free up). Default 1s, as Mesos.
	AllocationInterval time.Duration
	// ExecutorShutdownGrace is how long an executor may take to exit after
	// SHUTDOWN before it is killed; executors also get it as
	// MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD. Default 5s, as Mesos.
	ExecutorShutdownGrace time.Duration
	// Credentials, if any, make the scheduler API (/api/v1/scheduler)
	// require HTTP Basic authentication with one of them (realm
	// SchedulerRealm), as Mesos' --credentials with
	// --authenticate_http_frameworks; a SUBSCRIBE must then name the
	// authenticated principal in FrameworkInfo.principal (or none). Read
	// a Mesos credentials file with ReadCredentials. Default: none, no
	// authentication.
	Credentials []Credential
	// Contender, if set, publishes the masters (Serve, ServeStandby) in a
	// leader election as Mesos does in ZooKeeper; see Contender. Default:
	// none.
	Contender Contender
	// Logger receives the master's and agents' events. Default: discard.
	Logger *slog.Logger
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.WorkDir == "" {
		errs = append(errs, errors.New("mesoslocal: WorkDir is required"))
	}
	if c.Agents < 0 || c.Agents > 64 {
		errs = append(errs, fmt.Errorf("mesoslocal: Agents must be 1..64, not %d", c.Agents))
	}
	for name, d := range map[string]time.Duration{"HeartbeatInterval": c.HeartbeatInterval, "StatusRetryInterval": c.StatusRetryInterval, "AllocationInterval": c.AllocationInterval, "ExecutorShutdownGrace": c.ExecutorShutdownGrace} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("mesoslocal: %s is negative (%v)", name, d))
		}
	}
	if len(c.Credentials) > 0 {
		if err := checkCredentials(c.Credentials); err != nil {
			errs = append(errs, fmt.Errorf("mesoslocal: Credentials: %w", err))
		}
	}
	cc := c.withDefaults()
	if len(cc.AgentAttributes) > 1 && len(cc.AgentAttributes) != cc.Agents {
		errs = append(errs, fmt.Errorf("mesoslocal: %d agent attribute sets for %d agents (give one for all, or one per agent)", len(cc.AgentAttributes), cc.Agents))
	}
	for _, a := range cc.AgentAttributes {
		if _, err := ParseAttributes(a); err != nil {
			errs = append(errs, err)
		}
	}
	if err := validateAddresses(cc.AgentAddresses, cc.Agents); err != nil {
		errs = append(errs, err)
	}
	for i := 1; i <= cc.Agents; i++ {
		if _, err := agentResources(cc.AgentResources, i); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Agents == 0 {
		c.Agents = DefaultAgents
	}
	if c.AgentResources == "" {
		c.AgentResources = DefaultAgentResources
	}
	if len(c.AgentAddresses) == 0 && c.Agents > 0 && c.Agents <= 64 {
		c.AgentAddresses = DefaultAgentAddresses(c.Agents)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.StatusRetryInterval == 0 {
		c.StatusRetryInterval = DefaultStatusRetryInterval
	}
	if c.AllocationInterval == 0 {
		c.AllocationInterval = DefaultAllocationInterval
	}
	if c.ExecutorShutdownGrace == 0 {
		c.ExecutorShutdownGrace = DefaultExecutorShutdownGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// DefaultAgentAddresses is the default of Config.AgentAddresses for n
// agents: 127.0.0.2, 127.0.0.3, ... (agent i gets 127.0.0.(i+1)).
func DefaultAgentAddresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", i+2)
	}
	return out
}

// validateAddresses checks AgentAddresses: n of them, IP addresses
// (written in their canonical form, since they are also hostnames), all
// different, none unspecified or multicast.
func validateAddresses(addrs []string, n int) error {
	if len(addrs) != n {
		return fmt.Errorf("mesoslocal: %d agent addresses for %d agents (give one per agent)", len(addrs), n)
	}
	seen := map[string]bool{}
	for i, s := range addrs {
		ip := net.ParseIP(s)
		switch {
		case ip == nil:
			return fmt.Errorf("mesoslocal: agent %d address %q is not an IP address", i+1, s)
		case ip.String() != s:
			return fmt.Errorf("mesoslocal: agent %d address %q: write it as %s", i+1, s, ip)
		case ip.IsUnspecified() || ip.IsMulticast():
			return fmt.Errorf("mesoslocal: agent %d address %s cannot be an agent's own address", i+1, s)
		case seen[s]:
			return fmt.Errorf("mesoslocal: agent address %s is given twice", s)
		}
		seen[s] = true
	}
	return nil
}

// ParseResources parses Mesos' --resources syntax: entries separated by
// ';', each "name[(role)]:value" where value is a scalar ("4", "8192.5"),
// ranges ("[31000-31999,32000-32099]") or a set ("{a,b}").
func ParseResources(s string) (mesos.Resources, error) {
	var out mesos.Resources
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("mesoslocal: resource %q: want name:value", entry)
		}
		name = strings.TrimSpace(name)
		role := ""
		if i := strings.IndexByte(name, '('); i >= 0 {
			if !strings.HasSuffix(name, ")") {
				return nil, fmt.Errorf("mesoslocal: resource %q: unclosed role", entry)
			}
			name, role = name[:i], name[i+1:len(name)-1]
			if !validName(role) {
				return nil, fmt.Errorf("mesoslocal: resource %q: bad role %q", entry, role)
			}
		}
		if !validName(name) {
			return nil, fmt.Errorf("mesoslocal: resource %q: bad name", entry)
		}
		r := mesos.Resource{Name: name}
		value = strings.TrimSpace(value)
		switch {
		case strings.HasPrefix(value, "["):
			rs, err := parseRanges(value)
			if err != nil {
				return nil, fmt.Errorf("mesoslocal: resource %q: %w", entry, err)
			}
			r.Type = mesos.RANGES.Enum()
			r.Ranges = &mesos.Value_Ranges{Range: rs}
		case strings.HasPrefix(value, "{"):
			if !strings.HasSuffix(value, "}") {
				return nil, fmt.Errorf("mesoslocal: resource %q: unclosed set", entry)
			}
			var items []string
			for _, it := range strings.Split(value[1:len(value)-1], ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			r.Type = mesos.SET.Enum()
			r.Set = &mesos.Value_Set{Item: items}
		default:
			f, err := strconv.ParseFloat(value, 64)
			if err != nil || f < 0 || f != f {
				return nil, fmt.Errorf("mesoslocal: resource %q: bad scalar %q", entry, value)
			}
			r.Type = mesos.SCALAR.Enum()
			r.Scalar = &mesos.Value_Scalar{Value: f}
		}
		if role != "" && role != "*" {
			r.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: &role}}
		}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("mesoslocal: resource %q: %v", entry, err)
		}
		out.Add1(r)
	}
	if len(out) == 0 {
		return nil, errors.New("mesoslocal: no resources")
	}
	return out, nil
}

func parseRanges(v string) ([]mesos.Value_Range, error) {
	if !strings.HasSuffix(v, "]") {
		return nil, errors.New("unclosed ranges")
	}
	var out []mesos.Value_Range
	for _, part := range strings.Split(v[1:len(v)-1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil || e < b {
			return nil, fmt.Errorf("bad range %q", part)
		}
		out = append(out, mesos.Value_Range{Begin: b, End: e})
	}
	if len(out) == 0 {
		return nil, errors.New("empty ranges")
	}
	return out, nil
}

// ParseAttributes parses Mesos' --attributes syntax: "name:value;..." where
// a number is a scalar, "[a-b]" ranges, "{a,b}" a set and anything else text.
func ParseAttributes(s string) ([]mesos.Attribute, error) {
	var out []mesos.Attribute
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validName(name) || value == "" {
			return nil, fmt.Errorf("mesoslocal: attribute %q: want name:value", entry)
		}
		a := mesos.Attribute{Name: name}
		switch {
		case strings.HasPrefix(value, "["):
			rs, err := parseRanges(value)
			if err != nil {
				return nil, fmt.Errorf("mesoslocal: attribute %q: %w", entry, err)
			}
			a.Type, a.Ranges = mesos.RANGES, &mesos.Value_Ranges{Range: rs}
		default:
			if f, err := strconv.ParseFloat(value, 64); err == nil {
				a.Type, a.Scalar = mesos.SCALAR, &mesos.Value_Scalar{Value: f}
			} else {
				a.Type, a.Text = mesos.TEXT, &mesos.Value_Text{Value: value}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// agentResources is agent i's (1-based) resources: the configured ones
// with port ranges shifted down by (i-1) widths.
func agentResources(spec string, i int) (mesos.Resources, error) {
	rs, err := ParseResources(spec)
	if err != nil {
		return nil, err
	}
	for j := range rs {
		r := &rs[j]
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		var lo, hi uint64 = ^uint64(0), 0
		for _, rg := range r.Ranges.Range {
			lo, hi = min(lo, rg.Begin), max(hi, rg.End)
		}
		over, shift := bits.Mul64(uint64(i-1), hi-lo+1)
		if over != 0 || shift > lo || lo-shift < 1024 {
			return nil, fmt.Errorf("mesoslocal: ports %d-%d are too low to give agent %d a range of its own below them", lo, hi, i)
		}
		for k := range r.Ranges.Range {
			r.Ranges.Range[k].Begin -= shift
			r.Ranges.Range[k].End -= shift
		}
	}
	return rs, nil
}

// validName accepts Mesos-style names: letters, digits, '.', '_', '-', '/'
// (roles may be hierarchical), not starting with '.' or '/'.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '/' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '/':
		default:
			return false
		}
	}
	return true
}
