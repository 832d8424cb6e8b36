package bench

import (
	"fmt"
	"net"
	"strconv"

	riak "github.com/basho/riak-go-client"
)

// The riak-go-client driver: one riak.Client over every PB address, shared
// by the workers, as an application would use it. ExecutionAttempts is 1,
// so the client does not retry behind the benchmark's back.

type goClientDriver struct {
	client *riak.Client
	bucket string
}

func newGoClientDriver(cfg DriverConfig) (*goClientDriver, error) {
	conns := cfg.Concurrency/len(cfg.PBAddrs) + 1
	var nodes []*riak.Node
	for _, a := range cfg.PBAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: address %q: %v", ErrBadDriver, a, err)
		}
		n, err := riak.NewNode(&riak.NodeOptions{
			RemoteAddress:  a,
			MinConnections: uint16(min(conns, 1000)),
			MaxConnections: uint16(min(cfg.Concurrency+8, 60000)),
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
	return &goClientDriver{client: client, bucket: cfg.Bucket}, nil
}

func (d *goClientDriver) NewWorker(int) (Worker, error) { return &goClientWorker{d: d}, nil }

func (d *goClientDriver) Close() error { return d.client.Stop() }

type goClientWorker struct{ d *goClientDriver }

func (w *goClientWorker) Do(op Op, key, value []byte) error {
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
		return w.d.client.Execute(cmd)
	}
	return fmt.Errorf("bench: riak-go-client: unknown op %v", op)
}

func (w *goClientWorker) fetch(k string) ([]byte, error) {
	cmd, err := riak.NewFetchValueCommandBuilder().WithBucket(w.d.bucket).WithKey(k).Build()
	if err != nil {
		return nil, err
	}
	if err := w.d.client.Execute(cmd); err != nil {
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
	return w.d.client.Execute(cmd)
}

func (w *goClientWorker) Close() error { return nil }
