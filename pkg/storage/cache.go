package storage

import (
	"context"
	"sync"
)

// Cache is a Store whose Get is answered from memory after the first read.
// It is coherent only while this process is the store's sole writer (serve
// holds an exclusive lock on an sqlite file for that); every other method
// passes through, and writes evict what they touch. It holds values as the
// store does (sealed), never plaintext.
type Cache struct {
	Store
	maxBytes int

	mu      sync.Mutex
	gen     uint64 // bumped by every write, so a read that raced one is not kept
	entries map[cacheKey]Secret
	bytes   int
}

type cacheKey struct{ owner, name string }

// NewCache wraps s with a cache of at most maxBytes of values.
func NewCache(s Store, maxBytes int) *Cache {
	return &Cache{Store: s, maxBytes: maxBytes, entries: map[cacheKey]Secret{}}
}

// Get implements Store.
func (c *Cache) Get(ctx context.Context, owner, name string) (Secret, error) {
	k := cacheKey{owner, name}
	c.mu.Lock()
	sec, ok := c.entries[k]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return sec, nil
	}
	sec, err := c.Store.Get(ctx, owner, name)
	if err != nil {
		return sec, err
	}
	size := len(owner) + len(name) + len(sec.Value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || size > c.maxBytes/8 {
		return sec, nil // a write may have raced this read, or it is too big to keep
	}
	for k := range c.entries {
		if c.bytes+size <= c.maxBytes {
			break
		}
		c.evict(k)
	}
	if _, dup := c.entries[k]; !dup {
		c.entries[k] = sec
		c.bytes += size
	}
	return sec, nil
}

func (c *Cache) evict(k cacheKey) {
	if sec, ok := c.entries[k]; ok {
		c.bytes -= len(k.owner) + len(k.name) + len(sec.Value)
		delete(c.entries, k)
	}
}

// forget evicts names of owner and marks a write, before and after the
// write itself, so no read overlapping it is cached.
func (c *Cache) forget(owner string, names func(yield func(string) bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for n := range names {
		c.evict(cacheKey{owner, n})
	}
}

func (c *Cache) write(owner string, names func(yield func(string) bool), do func() error) error {
	c.forget(owner, names)
	err := do()
	c.forget(owner, names)
	return err
}

// Put implements Store.
func (c *Cache) Put(ctx context.Context, owner string, items []Item) error {
	names := func(yield func(string) bool) {
		for _, it := range items {
			if !yield(it.Name) {
				return
			}
		}
	}
	return c.write(owner, names, func() error { return c.Store.Put(ctx, owner, items) })
}

// Delete implements Store.
func (c *Cache) Delete(ctx context.Context, owner string, names []string) error {
	seq := func(yield func(string) bool) {
		for _, n := range names {
			if !yield(n) {
				return
			}
		}
	}
	return c.write(owner, seq, func() error { return c.Store.Delete(ctx, owner, names) })
}

// Swap implements Store.
func (c *Cache) Swap(ctx context.Context, owner, name string, old, new []byte) (ok bool, err error) {
	one := func(yield func(string) bool) { yield(name) }
	err = c.write(owner, one, func() error {
		ok, err = c.Store.Swap(ctx, owner, name, old, new)
		return err
	})
	return ok, err
}
