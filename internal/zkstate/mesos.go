package zkstate

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
)

// Mesos masters' leader election, as Mesos keeps it in ZooKeeper: each
// master creates an ephemeral sequential child json.info_<seq> of the
// path of its --zk URL, holding its MasterInfo as JSON; the lowest
// sequence leads. This path is the user's (not our layout), so it comes
// from a zk:// URL parsed here, in one place.

// mesosInfoPrefix names a master's znode under the Mesos path.
const mesosInfoPrefix = "json.info_"

// MesosZK is a parsed Mesos ZooKeeper URL
// zk://[user:password@]host:port[,host:port...]/path.
type MesosZK struct {
	Servers []string // host:port
	Path    string   // absolute, clean, not "/"
	Auth    string   // "user:password" digest credential, or ""
}

// IsMesosZK reports whether s is written as a zk:// URL (to be parsed
// with ParseMesosZK) rather than an http(s) master URL.
func IsMesosZK(s string) bool { return strings.HasPrefix(strings.ToLower(s), "zk://") }

// ParseMesosZK parses a Mesos master --zk URL, as Mesos and its
// frameworks write it: zk://host:port[,host:port]/mesos (optionally with
// user:password@ for digest authentication).
func ParseMesosZK(s string) (MesosZK, error) {
	if !IsMesosZK(s) {
		return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL %q: want zk://host:port[,host:port]/path", s)
	}
	rest := s[len("zk://"):]
	hosts, p, ok := strings.Cut(rest, "/")
	if !ok || p == "" {
		return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL %q: no path (want zk://host:port/mesos)", s)
	}
	var out MesosZK
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		out.Auth, hosts = hosts[:at], hosts[at+1:]
		if _, _, err := ParseDigestAuth(out.Auth); err != nil {
			return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL: credential: %w", err)
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL %q: server %q: want host:port", redactURL(s), h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL %q: server %q: bad port", redactURL(s), h)
		}
		out.Servers = append(out.Servers, h)
	}
	clean := path.Clean("/" + p)
	if clean == "/" || strings.ContainsAny(clean, "?#") || strings.ContainsFunc(clean, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return MesosZK{}, fmt.Errorf("zkstate: Mesos ZooKeeper URL %q: bad path %q", redactURL(s), p)
	}
	out.Path = clean
	return out, nil
}

// redactURL hides a credential in a zk:// URL for error messages.
func redactURL(s string) string {
	rest := s[min(len(s), len("zk://")):]
	hosts, p, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		return "zk://***@" + hosts[at+1:] + "/" + p
	}
	return s
}

// MesosMasterInfo is the MasterInfo a Mesos master publishes, in the JSON
// form Mesos writes (the fields a framework needs to reach it).
type MesosMasterInfo struct {
	ID       string `json:"id"`
	IP       uint32 `json:"ip,omitempty"` // IPv4 in network byte order, as Mesos stores it
	Port     int    `json:"port"`
	PID      string `json:"pid,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Version  string `json:"version,omitempty"`
	Address  *struct {
		Hostname string `json:"hostname,omitempty"`
		IP       string `json:"ip,omitempty"`
		Port     int    `json:"port"`
	} `json:"address,omitempty"`
}

// HostPort is where the master's HTTP API is: address.hostname (or
// address.ip) and address.port, falling back to the older hostname, ip
// and port fields.
func (i MesosMasterInfo) HostPort() (string, error) {
	host, port := "", i.Port
	if a := i.Address; a != nil {
		host = a.Hostname
		if host == "" {
			host = a.IP
		}
		if a.Port != 0 {
			port = a.Port
		}
	}
	if host == "" {
		host = i.Hostname
	}
	if host == "" && i.IP != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], i.IP)
		host = net.IP(b[:]).String()
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") || port < 1 || port > 65535 {
		return "", fmt.Errorf("%w: Mesos MasterInfo without a usable address (host %q, port %d)", ErrInvalidRecord, host, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// leadingMesosChild picks the leader's znode name among a Mesos path's
// children: the json.info_ one with the lowest sequence ("" if none).
func leadingMesosChild(children []string) string {
	best, bestSeq := "", int64(-1)
	for _, c := range children {
		seqS, ok := strings.CutPrefix(c, mesosInfoPrefix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseInt(seqS, 10, 64)
		if err != nil || seq < 0 {
			continue
		}
		if bestSeq < 0 || seq < bestSeq {
			best, bestSeq = c, seq
		}
	}
	return best
}

// MesosLeader reads the leading Mesos master's MasterInfo under the
// Mesos path zkPath (MesosZK.Path). ErrNotFound if no master is there.
func (s *Store) MesosLeader(ctx context.Context, zkPath string) (MesosMasterInfo, error) {
	children, err := call(ctx, s, func(c *zk.Conn) ([]string, error) {
		ch, _, err := c.Children(zkPath)
		return ch, err
	})
	if err != nil {
		return MesosMasterInfo{}, mapErr("children", zkPath, err)
	}
	name := leadingMesosChild(children)
	if name == "" {
		return MesosMasterInfo{}, fmt.Errorf("%w: no Mesos master under %s", ErrNotFound, zkPath)
	}
	data, _, err := s.getRaw(ctx, path.Join(zkPath, name))
	if err != nil {
		return MesosMasterInfo{}, err
	}
	var info MesosMasterInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return MesosMasterInfo{}, fmt.Errorf("%w: %s/%s: %v", ErrInvalidRecord, zkPath, name, err)
	}
	if _, err := info.HostPort(); err != nil {
		return MesosMasterInfo{}, fmt.Errorf("%s/%s: %w", zkPath, name, err)
	}
	return info, nil
}

// ContendMesosMaster enters a master into the election under zkPath as
// Mesos does: an ephemeral sequential json.info_<seq> holding info (its
// MasterInfo JSON). Withdraw deletes it; a master that withdraws and
// contends again queues behind the others. Used by mesos-local.
func (s *Store) ContendMesosMaster(ctx context.Context, zkPath string, info []byte) (withdraw func() error, err error) {
	if !json.Valid(info) {
		return nil, errors.New("zkstate: Mesos MasterInfo is not JSON")
	}
	if err := s.ensureDir(ctx, zkPath); err != nil {
		return nil, err
	}
	created, err := call(ctx, s, func(c *zk.Conn) (string, error) {
		return c.Create(path.Join(zkPath, mesosInfoPrefix), info, zk.FlagEphemeral|zk.FlagSequence, s.acl)
	})
	if err != nil {
		return nil, mapErr("create", zkPath, err)
	}
	return func() error {
		_, err := call(context.Background(), s, func(c *zk.Conn) (struct{}, error) { return struct{}{}, c.Delete(created, -1) })
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		return mapErr("delete", created, err)
	}, nil
}

// MesosMasterURL is the http URL of a master given as info.
func MesosMasterURL(info MesosMasterInfo) (string, error) {
	hp, err := info.HostPort()
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "http", Host: hp}).String(), nil
}
