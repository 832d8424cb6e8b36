package director

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// ConnTable is the director's connection table in hashicorp/go-memdb:
// nodes, backend connections and client connections, indexed for the admin
// views. It is written only when a connection opens or closes and when the
// node set changes, never per request (per-request counters are atomics
// on the connections and nodes), so it costs the hot path nothing.
type ConnTable struct {
	db  *memdb.MemDB
	seq atomic.Uint64
}

// NodeRow is a node in the table.
type NodeRow struct {
	ID, PBAddr, HTTPAddr string
	State                string // "active" or "draining"
	Since                time.Time
}

// ClientRow is an open client connection.
type ClientRow struct {
	ID     string
	Remote string
	Since  time.Time
}

// BackendRow is an open connection to a node.
type BackendRow struct {
	ID    string
	Node  string
	Since time.Time
}

const (
	tableNodes    = "nodes"
	tableClients  = "client_conns"
	tableBackends = "backend_conns"
)

var connTableSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
		"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		"state": {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
	}},
	tableClients: {Name: tableClients, Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
	}},
	tableBackends: {Name: tableBackends, Indexes: map[string]*memdb.IndexSchema{
		"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		"node": {Name: "node", Indexer: &memdb.StringFieldIndex{Field: "Node"}},
	}},
}}

func newConnTable() *ConnTable {
	db, err := memdb.NewMemDB(connTableSchema)
	if err != nil {
		panic(err) // the schema is static: a failure is a programming error
	}
	return &ConnTable{db: db}
}

func (t *ConnTable) nextID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, t.seq.Add(1))
}

func (t *ConnTable) write(fn func(*memdb.Txn) error) {
	txn := t.db.Txn(true)
	if err := fn(txn); err != nil {
		txn.Abort()
		return
	}
	txn.Commit()
}

// addClient records a client connection and returns its row ID.
func (t *ConnTable) addClient(remote string) string {
	if t == nil {
		return ""
	}
	id := t.nextID("c")
	t.write(func(txn *memdb.Txn) error {
		return txn.Insert(tableClients, &ClientRow{ID: id, Remote: remote, Since: time.Now()})
	})
	return id
}

func (t *ConnTable) removeClient(id string) {
	if t == nil || id == "" {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		_, err := txn.DeleteAll(tableClients, "id", id)
		return err
	})
}

// addBackend records a backend connection to node and returns its row ID.
func (t *ConnTable) addBackend(node string) string {
	if t == nil {
		return ""
	}
	id := t.nextID("b")
	t.write(func(txn *memdb.Txn) error {
		return txn.Insert(tableBackends, &BackendRow{ID: id, Node: node, Since: time.Now()})
	})
	return id
}

func (t *ConnTable) removeBackend(id string) {
	if t == nil || id == "" {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		_, err := txn.DeleteAll(tableBackends, "id", id)
		return err
	})
}

// setNode records a node as active or draining; gone removes it.
func (t *ConnTable) setNode(row NodeRow, gone bool) {
	if t == nil {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		if gone {
			_, err := txn.DeleteAll(tableNodes, "id", row.ID)
			return err
		}
		row.Since = time.Now()
		return txn.Insert(tableNodes, &row)
	})
}

// Nodes lists the nodes, active and draining, by ID.
func (t *ConnTable) Nodes() []NodeRow {
	var out []NodeRow
	if t == nil {
		return out
	}
	it, err := t.db.Txn(false).Get(tableNodes, "id")
	if err != nil {
		return out
	}
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*NodeRow))
	}
	return out
}

// NodesInState lists the nodes in one state ("active", "draining").
func (t *ConnTable) NodesInState(state string) []NodeRow {
	var out []NodeRow
	if t == nil {
		return out
	}
	it, err := t.db.Txn(false).Get(tableNodes, "state", state)
	if err != nil {
		return out
	}
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*NodeRow))
	}
	return out
}

// Clients lists the open client connections, oldest first.
func (t *ConnTable) Clients() []ClientRow {
	var out []ClientRow
	if t == nil {
		return out
	}
	it, err := t.db.Txn(false).Get(tableClients, "id")
	if err != nil {
		return out
	}
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*ClientRow))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// BackendsOf lists the open connections to one node.
func (t *ConnTable) BackendsOf(node string) []BackendRow {
	var out []BackendRow
	if t == nil {
		return out
	}
	it, err := t.db.Txn(false).Get(tableBackends, "node", node)
	if err != nil {
		return out
	}
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*BackendRow))
	}
	return out
}

// Counts returns the numbers of client and backend connections.
func (t *ConnTable) Counts() (clients, backends int) {
	if t == nil {
		return 0, 0
	}
	txn := t.db.Txn(false)
	for _, c := range []struct {
		table string
		n     *int
	}{{tableClients, &clients}, {tableBackends, &backends}} {
		it, err := txn.Get(c.table, "id")
		if err != nil {
			continue
		}
		for o := it.Next(); o != nil; o = it.Next() {
			*c.n++
		}
	}
	return clients, backends
}
