package director

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// Table is the director's connection table in hashicorp/go-memdb: nodes,
// backend connections and client connections, indexed for the admin views,
// whose source of truth it is for node states and connections.
//
// Rows are written when a connection opens, is pinned, becomes a tunnel or
// closes, and when the node set changes; never per request (per-request
// counters are atomics on the connections and nodes), so the table costs
// the request path nothing. The columns that change with traffic (a
// backend connection idle or busy, a node up or down) are brought up to
// date in one batched write by Proxy.Table, i.e. when somebody looks.
//
// The zero value is not usable; a nil *Table (DisableConnTable) answers
// every read with nothing.
type Table struct {
	db  *memdb.MemDB
	seq atomic.Uint64
}

// Node states in the table.
const (
	NodeUp       = "up"       // in the set and available (healthy, breaker not open)
	NodeDown     = "down"     // in the set but not available
	NodeDraining = "draining" // removed from the set; connections still open
)

// Backend connection states in the table.
const (
	BackendIdle   = "idle"   // in its node's pool
	BackendBusy   = "busy"   // serving a request
	BackendPinned = "pinned" // dedicated to one client connection
)

// NodeRow is a node in the table.
type NodeRow struct {
	ID, PBAddr, HTTPAddr string
	State                string    // NodeUp, NodeDown or NodeDraining
	Since                time.Time // when State last changed
}

// ClientRow is an open client connection.
type ClientRow struct {
	ID     string
	Remote string
	Since  time.Time
	Pinned string // ID of the node it is pinned to; "" if not pinned
	Tunnel bool   // relaying raw bytes after RpbStartTls
}

// BackendRow is an open connection to a node.
type BackendRow struct {
	ID    string
	Node  string
	State string // BackendIdle, BackendBusy or BackendPinned
	Since time.Time
}

const (
	tableNodes    = "nodes"
	tableClients  = "client_conns"
	tableBackends = "backend_conns"
)

func strIndex(name, field string, unique, allowMissing bool) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: name, Unique: unique, AllowMissing: allowMissing, Indexer: &memdb.StringFieldIndex{Field: field}}
}

var tableSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
		"id":    strIndex("id", "ID", true, false),
		"state": strIndex("state", "State", false, false),
	}},
	tableClients: {Name: tableClients, Indexes: map[string]*memdb.IndexSchema{
		"id": strIndex("id", "ID", true, false),
		// Unpinned clients have no entry in this index.
		"pinned": strIndex("pinned", "Pinned", false, true),
	}},
	tableBackends: {Name: tableBackends, Indexes: map[string]*memdb.IndexSchema{
		"id":    strIndex("id", "ID", true, false),
		"node":  strIndex("node", "Node", false, false),
		"state": strIndex("state", "State", false, false),
	}},
}}

func newTable() *Table {
	db, err := memdb.NewMemDB(tableSchema)
	if err != nil {
		panic(err) // the schema is static: a failure is a programming error
	}
	return &Table{db: db}
}

func (t *Table) nextID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, t.seq.Add(1))
}

func (t *Table) write(fn func(*memdb.Txn) error) {
	txn := t.db.Txn(true)
	if err := fn(txn); err != nil {
		txn.Abort()
		return
	}
	txn.Commit()
}

// update replaces the row of table with ID id by a changed copy (memdb
// rows are never modified in place). A missing row is no error: the
// connection closed meanwhile.
func update[T any](txn *memdb.Txn, table, id string, change func(*T) bool) error {
	o, err := txn.First(table, "id", id)
	if err != nil || o == nil {
		return err
	}
	row := *o.(*T)
	if !change(&row) {
		return nil
	}
	return txn.Insert(table, &row)
}

// addClient records a client connection and returns its row ID.
func (t *Table) addClient(remote string) string {
	if t == nil {
		return ""
	}
	id := t.nextID("c")
	t.write(func(txn *memdb.Txn) error {
		return txn.Insert(tableClients, &ClientRow{ID: id, Remote: remote, Since: time.Now()})
	})
	return id
}

func (t *Table) removeClient(id string) {
	if t == nil || id == "" {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		_, err := txn.DeleteAll(tableClients, "id", id)
		return err
	})
}

// pin records that client id is pinned to backend connection backend of
// node: once per client connection.
func (t *Table) pin(client, backend, node string) {
	if t == nil {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		if err := update(txn, tableClients, client, func(r *ClientRow) bool { r.Pinned = node; return true }); err != nil {
			return err
		}
		return update(txn, tableBackends, backend, func(r *BackendRow) bool { r.State = BackendPinned; return true })
	})
}

// tunnel records that client id became a byte tunnel.
func (t *Table) tunnel(client string) {
	if t == nil || client == "" {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		return update(txn, tableClients, client, func(r *ClientRow) bool { r.Tunnel = true; return true })
	})
}

// addBackend records a new backend connection to node (busy: it was dialed
// for a request) and returns its row ID.
func (t *Table) addBackend(node string) string {
	if t == nil {
		return ""
	}
	id := t.nextID("b")
	t.write(func(txn *memdb.Txn) error {
		return txn.Insert(tableBackends, &BackendRow{ID: id, Node: node, State: BackendBusy, Since: time.Now()})
	})
	return id
}

func (t *Table) removeBackend(id string) {
	if t == nil || id == "" {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		_, err := txn.DeleteAll(tableBackends, "id", id)
		return err
	})
}

// setNode records a node; Since changes only with its state.
func (t *Table) setNode(row NodeRow) {
	if t == nil {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		row.Since = time.Now()
		if o, err := txn.First(tableNodes, "id", row.ID); err == nil && o != nil && o.(*NodeRow).State == row.State {
			row.Since = o.(*NodeRow).Since
		}
		return txn.Insert(tableNodes, &row)
	})
}

// dropNode removes a node's row.
func (t *Table) dropNode(id string) {
	if t == nil {
		return
	}
	t.write(func(txn *memdb.Txn) error {
		_, err := txn.DeleteAll(tableNodes, "id", id)
		return err
	})
}

// liveState is what refresh needs of one current node.
type liveState struct {
	up   bool
	idle map[string]bool // row IDs of its idle backend connections
}

// refresh brings the traffic-driven columns up to date in one write:
// current nodes' up/down state, and idle/busy of their backend
// connections (pinned ones stay pinned; draining nodes keep their state).
func (t *Table) refresh(nodes map[string]liveState) {
	if t == nil {
		return
	}
	now := time.Now()
	t.write(func(txn *memdb.Txn) error {
		for id, ls := range nodes {
			state := NodeDown
			if ls.up {
				state = NodeUp
			}
			err := update(txn, tableNodes, id, func(r *NodeRow) bool {
				if r.State == state || r.State == NodeDraining {
					return false
				}
				r.State, r.Since = state, now
				return true
			})
			if err != nil {
				return err
			}
			var changed []*BackendRow
			it, err := txn.Get(tableBackends, "node", id)
			if err != nil {
				return err
			}
			for o := it.Next(); o != nil; o = it.Next() {
				r := o.(*BackendRow)
				if r.State == BackendPinned {
					continue
				}
				want := BackendBusy
				if ls.idle[r.ID] {
					want = BackendIdle
				}
				if r.State != want {
					c := *r
					c.State = want
					changed = append(changed, &c)
				}
			}
			// Insert after iterating: the iterator must not see its own
			// table change under it.
			for _, c := range changed {
				if err := txn.Insert(tableBackends, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// collect reads every row of table under index (with args) into a slice.
func collect[T any](t *Table, table, index string, args ...any) []T {
	out := []T{}
	if t == nil {
		return out
	}
	it, err := t.db.Txn(false).Get(table, index, args...)
	if err != nil {
		return out
	}
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*T))
	}
	return out
}

// Nodes lists the nodes, current and draining, by ID.
func (t *Table) Nodes() []NodeRow { return collect[NodeRow](t, tableNodes, "id") }

// NodesInState lists the nodes in one state (NodeUp, NodeDown,
// NodeDraining), by ID.
func (t *Table) NodesInState(state string) []NodeRow {
	return collect[NodeRow](t, tableNodes, "state", state)
}

// ClientConns lists the open client connections, oldest first.
func (t *Table) ClientConns() []ClientRow {
	out := collect[ClientRow](t, tableClients, "id")
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// ClientConnsByNode lists the client connections pinned to node.
func (t *Table) ClientConnsByNode(node string) []ClientRow {
	return collect[ClientRow](t, tableClients, "pinned", node)
}

// BackendConnsByNode lists the open connections to node.
func (t *Table) BackendConnsByNode(node string) []BackendRow {
	return collect[BackendRow](t, tableBackends, "node", node)
}

// BackendConnsByState lists the backend connections in one state
// (BackendIdle, BackendBusy, BackendPinned), across nodes.
func (t *Table) BackendConnsByState(state string) []BackendRow {
	return collect[BackendRow](t, tableBackends, "state", state)
}

// Counts returns the numbers of client and backend connections.
func (t *Table) Counts() (clients, backends int) {
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

// Table returns the connection table (nil with DisableConnTable) after
// bringing its traffic-driven columns up to date: one write transaction,
// made here, at read time, and never on the request path.
func (p *Proxy) Table() *Table {
	if p.table == nil {
		return nil
	}
	p.mu.Lock()
	p.pruneDrainedLocked()
	p.mu.Unlock()
	states := *p.states.Load()
	nodes := make(map[string]liveState, len(states))
	for n, st := range states {
		nodes[n.ID] = liveState{up: n.Available(), idle: st.pool.idleIDs()}
	}
	p.table.refresh(nodes)
	return p.table
}

// tableNodeState is a current node's state for the table.
func tableNodeState(available bool) string {
	if available {
		return NodeUp
	}
	return NodeDown
}
