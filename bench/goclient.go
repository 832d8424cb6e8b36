package bench

import (
	"fmt"
	"net"
	"strconv"
	"time"

	riak "github.com/basho/riak-go-client"
)

// The riak-go-client driver: one riak.Client over every PB address, shared
// by the workers, as an application would use it. ExecutionAttempts is 1,
// so the client does not retry behind the benchmark's back. With
// SingleConn, each worker has a riak.Client of its own instead: one Node
// (PBAddrs[i%len]) with at most and at least one connection.

type goClientDriver struct {
	cfg    DriverConfig
	client *riak.Client // shared; nil with SingleConn
	bucket string
}

func newGoClientDriver(cfg DriverConfig) (*goClientDriver, error) {
	for _, a := range cfg.PBAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: address %q: %v", ErrBadDriver, a, err)
		}
	}
	d := &goClientDriver{cfg: cfg, bucket: cfg.Bucket}
	if cfg.SingleConn {
		return d, nil
	}
	conns := cfg.Concurrency/len(cfg.PBAddrs) + 1
	client, err := newGoClient(cfg, cfg.PBAddrs, uint16(min(conns, 1000)), uint16(min(cfg.Concurrency+8, 60000)))
	if err != nil {
		return nil, err
	}
	d.client = client
	return d, nil
}

// newGoClient starts a riak.Client over addrs, each node with minConns to
// maxConns connections.
func newGoClient(cfg DriverConfig, addrs []string, minConns, maxConns uint16) (*riak.Client, error) {
	var nodes []*riak.Node
	for _, a := range addrs {
		n, err := riak.NewNode(&riak.NodeOptions{
			RemoteAddress:  a,
			MinConnections: minConns,
			MaxConnections: maxConns,
			ConnectTimeout: cfg.Timeout,
			RequestTimeout: cfg.Timeout,
		})
		if err != nil {
			return nil, fmt.Errorf("bench: riak-go-client node %s: %w", a, err)
		}
		nodes = append(nodes, n)
	}
	cluster, err := riak.NewCluster(&riak.ClusterOptions{Nodes: nodes, ExecutionAttempts: 1})
	if err != nil {
		return nil, fmt.Errorf("bench: riak-go-client cluster: %w", err)
	}
	client, err := riak.NewClient(&riak.NewClientOptions{Cluster: cluster})
	if err != nil {
		return nil, fmt.Errorf("bench: riak-go-client: %w", err)
	}
	return client, nil
}

func (d *goClientDriver) NewWorker(i int) (Worker, error) {
	if !d.cfg.SingleConn {
		return &goClientWorker{d: d, client: d.client}, nil
	}
	client, err := newGoClient(d.cfg, []string{d.cfg.PBAddrs[i%len(d.cfg.PBAddrs)]}, 1, 1)
	if err != nil {
		return nil, err
	}
	return &goClientWorker{d: d, client: client, own: true}, nil
}

func (d *goClientDriver) Close() error {
	if d.client == nil {
		return nil
	}
	return d.client.Stop()
}

type goClientWorker struct {
	d      *goClientDriver
	client *riak.Client
	own    bool // client is this worker's: Close stops it
}

// failPause is how long a worker waits after an operation failed without
// an answer from Riak (its node down, the client health-checking it):
// riak-go-client then fails at once, and a worker must not spin, as the
// raw driver does not on a failed dial.
const failPause = 10 * time.Millisecond

func (w *goClientWorker) Do(op Op, key, value []byte) error {
	err := w.do(op, key, value)
	if err != nil && Classify(err) != KindRiak {
		time.Sleep(failPause)
	}
	return err
}

func (w *goClientWorker) do(op Op, key, value []byte) error {
	k := string(key)
	switch op {
	case OpGet:
		_, err := w.fetch(k)
		return err
	case OpPut:
		return w.store(k, nil, value)
	case OpUpdate:
		vc, err := w.fetch(k)
		if err != nil {
			return err
		}
		return w.store(k, vc, value)
	case OpDelete:
		cmd, err := riak.NewDeleteValueCommandBuilder().WithBucket(w.d.bucket).WithKey(k).Build()
		if err != nil {
			return err
		}
		return w.client.Execute(cmd)
	}
	return fmt.Errorf("bench: riak-go-client: unknown op %v", op)
}

func (w *goClientWorker) fetch(k string) ([]byte, error) {
	cmd, err := riak.NewFetchValueCommandBuilder().WithBucket(w.d.bucket).WithKey(k).Build()
	if err != nil {
		return nil, err
	}
	if err := w.client.Execute(cmd); err != nil {
		return nil, err
	}
	fc := cmd.(*riak.FetchValueCommand)
	if !fc.Success() {
		return nil, fmt.Errorf("bench: riak-go-client: fetch %s did not succeed: %v", strconv.Quote(k), fc.Error())
	}
	if fc.Response == nil {
		return nil, nil
	}
	return fc.Response.VClock, nil
}

func (w *goClientWorker) store(k string, vclock, value []byte) error {
	b := riak.NewStoreValueCommandBuilder().WithBucket(w.d.bucket).WithKey(k).
		WithContent(&riak.Object{ContentType: "application/octet-stream", Value: value})
	if len(vclock) > 0 {
		b = b.WithVClock(vclock)
	}
	cmd, err := b.Build()
	if err != nil {
		return err
	}
	return w.client.Execute(cmd)
}

func (w *goClientWorker) Close() error {
	if !w.own {
		return nil
	}
	return w.client.Stop()
}
