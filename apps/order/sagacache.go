package order

import (
	"sync"

	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// maxCachedSagas bounds the cache; past it, sagas are read from the table.
const maxCachedSagas = 100_000

// sagaCache keeps the committed state of unfinished sagas in memory, so a
// reply costs no saga read: that read was a third of the order service's
// reply handling, on the one SQLite connection every saga step of the whole
// system waits for. It is only used on SQLite, where this process is the
// database's only writer and transactions are serial; with PostgreSQL other
// replicas change sagas too, and every read goes to the table (FOR UPDATE).
//
// What a transaction writes is visible to its own later reads at once and
// to other transactions only from its commit on: the writes move into the
// committed map just before the commit, while the transaction still holds
// the connection, and are dropped again if the commit fails.
type sagaCache struct {
	mu        sync.Mutex
	committed map[string]Saga
	pending   map[*store.Tx]map[string]Saga
}

func newSagaCache() *sagaCache {
	return &sagaCache{committed: map[string]Saga{}, pending: map[*store.Tx]map[string]Saga{}}
}

func (c *sagaCache) get(tx *store.Tx, id string) (*Saga, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.pending[tx][id]
	if !ok {
		s, ok = c.committed[id]
	}
	return &s, ok
}

// put records s as written by tx.
func (c *sagaCache) put(tx *store.Tx, s *Saga) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[tx]
	if !ok {
		p = map[string]Saga{}
		c.pending[tx] = p
		tx.BeforeCommit(func() { c.commit(tx) })
		tx.OnRollback(func() { c.abort(tx, p) })
	}
	p[s.OrderID] = *s
}

func (c *sagaCache) commit(tx *store.Tx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer delete(c.pending, tx)
	for id, s := range c.pending[tx] {
		switch {
		case s.State.Terminal():
			delete(c.committed, id) // replies to a finished saga are rare: read them
		case len(c.committed) < maxCachedSagas:
			c.committed[id] = s
		default:
			delete(c.committed, id)
		}
	}
}

// abort forgets tx's writes. If they already moved into the committed map
// (the commit itself failed), those sagas are read from the table again.
func (c *sagaCache) abort(tx *store.Tx, p map[string]Saga) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, open := c.pending[tx]; open {
		delete(c.pending, tx)
		return
	}
	for id := range p {
		delete(c.committed, id)
	}
}
