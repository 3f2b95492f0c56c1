package ipfs

import (
	"container/list"
	"sync"
)

// lru is a fixed-size, least-recently-used map from CID to document.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *entry
	items map[string]*list.Element
}

type entry struct {
	cid string
	doc Document
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
}

func (l *lru) get(cid string) (Document, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[cid]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*entry).doc, true
}

func (l *lru) add(cid string, doc Document) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[cid]; ok {
		e.Value.(*entry).doc = doc
		l.order.MoveToFront(e)
		return
	}
	l.items[cid] = l.order.PushFront(&entry{cid: cid, doc: doc})
	for l.order.Len() > l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*entry).cid)
	}
}

func (l *lru) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
