package storage

import (
	"context"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// Cache is a Backend whose Get, List and GetMany are answered from memory
// after the first read: single secrets, and whole namespaces (an owner's
// every secret, from which any prefix listing is a binary search). It is
// coherent only while this process is the store's sole writer (serve holds
// an exclusive lock on an sqlite file for that); every other method passes
// through, and writes evict what they touch. It holds values as the store
// does (sealed), never plaintext.
type Cache struct {
	Backend
	maxBytes int

	loads singleflight.Group // one namespace load per owner at a time

	mu      sync.Mutex
	gen     uint64 // bumped by every write, so a read that raced one is not kept
	entries map[cacheKey]Secret
	lists   map[string]*namespace // owner → all its secrets, as List returns them
	bytes   int
}

type cacheKey struct{ owner, name string }

// namespace is an owner's whole listing, sorted by name; tooBig marks one
// that does not fit, so its listings pass through until the next write.
type namespace struct {
	secs   []Secret
	size   int
	tooBig bool
}

// entryOverhead approximates the bytes a cached secret costs beyond its
// name and value.
const entryOverhead = 64

// NewCache wraps s with a cache of at most maxBytes of values.
func NewCache(s Backend, maxBytes int) *Cache {
	return &Cache{Backend: s, maxBytes: maxBytes, entries: map[cacheKey]Secret{}, lists: map[string]*namespace{}}
}

// List implements Secrets from the owner's cached namespace, loading it
// whole on a miss.
func (c *Cache) List(ctx context.Context, owner, prefix string) ([]Secret, error) {
	ns, err := c.namespaceOf(ctx, owner)
	if err != nil || ns == nil {
		if err == nil {
			return c.Backend.List(ctx, owner, prefix)
		}
		return nil, err
	}
	lo, _ := slices.BinarySearchFunc(ns.secs, prefix, func(s Secret, p string) int { return strings.Compare(s.Name, p) })
	hi := lo
	for hi < len(ns.secs) && strings.HasPrefix(ns.secs[hi].Name, prefix) {
		hi++
	}
	// A copy: layers above replace values in the slice they get.
	return slices.Clone(ns.secs[lo:hi:hi]), nil
}

// ListPage implements Secrets from the owner's cached namespace, like List.
func (c *Cache) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	return c.listPage(ctx, owner, prefix, after, limit, false)
}

// ListValues implements ValueLister like ListPage: a cached namespace
// keeps versions and times anyway, and one too big to keep is listed by
// the layer below without them.
func (c *Cache) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]Secret, error) {
	return c.listPage(ctx, owner, prefix, after, limit, true)
}

// listPage is a page of the owner's cached namespace, or, for one too big
// to keep, the layer below's ListValues (values) or ListPage.
func (c *Cache) listPage(ctx context.Context, owner, prefix, after string, limit int, values bool) ([]Secret, error) {
	ns, err := c.namespaceOf(ctx, owner)
	switch {
	case err != nil:
		return nil, err
	case ns != nil:
		return ns.page(prefix, after, limit), nil
	case values:
		return c.Backend.ListValues(ctx, owner, prefix, after, limit)
	default:
		return c.Backend.ListPage(ctx, owner, prefix, after, limit)
	}
}

// page is a copy of ListPage's page of ns.
func (ns *namespace) page(prefix, after string, limit int) []Secret {
	lo, _ := slices.BinarySearchFunc(ns.secs, max(prefix, after), func(s Secret, p string) int { return strings.Compare(s.Name, p) })
	if lo < len(ns.secs) && ns.secs[lo].Name == after {
		lo++
	}
	hi := lo
	for hi < len(ns.secs) && hi-lo < limit && strings.HasPrefix(ns.secs[hi].Name, prefix) {
		hi++
	}
	return slices.Clone(ns.secs[lo:hi:hi])
}

// namespaceOf is owner's cached namespace, loaded whole (with versions and
// times, as ListPage gives them) on a miss; nil when it is too big to keep,
// and then listings pass through.
func (c *Cache) namespaceOf(ctx context.Context, owner string) (*namespace, error) {
	c.mu.Lock()
	ns, gen := c.lists[owner], c.gen
	c.mu.Unlock()
	if ns != nil {
		if ns.tooBig {
			return nil, nil
		}
		return ns, nil
	}
	// Concurrent misses of one owner share one load.
	v, err, _ := c.loads.Do(owner, func() (any, error) { return c.load(ctx, owner, gen) })
	if err != nil {
		return nil, err
	}
	return v.(*namespace), nil
}

// load reads owner's namespace a page at a time and keeps it, stopping
// once it is too big to keep: a namespace larger than the cache never sits
// in memory whole. It returns nil for one too big.
func (c *Cache) load(ctx context.Context, owner string, gen uint64) (*namespace, error) {
	var all []Secret
	size := 0
	for after := ""; ; {
		page, err := c.Backend.ListPage(ctx, owner, "", after, loadPage)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		for _, s := range page {
			size += len(s.Name) + len(s.Value) + entryOverhead
		}
		if size > c.maxBytes/2 || len(page) < loadPage {
			break
		}
		after = page[len(page)-1].Name
	}
	if ns := c.keepList(owner, gen, all); !ns.tooBig {
		return ns, nil
	}
	return nil, nil
}

// loadPage is how many secrets namespaceOf reads at a time.
const loadPage = 512

// GetMany implements Secrets from the owner's cached namespace when it is
// in memory.
func (c *Cache) GetMany(ctx context.Context, owner string, names []string) ([]Secret, error) {
	c.mu.Lock()
	ns := c.lists[owner]
	c.mu.Unlock()
	if ns == nil || ns.tooBig {
		return c.Backend.GetMany(ctx, owner, names)
	}
	out := make([]Secret, 0, len(names))
	for _, n := range names { // distinct and sorted (Checked)
		if i, ok := slices.BinarySearchFunc(ns.secs, n, func(s Secret, n string) int { return strings.Compare(s.Name, n) }); ok {
			out = append(out, ns.secs[i])
		}
	}
	return out, nil
}

// keepList caches all as owner's namespace unless a write raced the read
// (then it is returned uncached) or it is too big.
func (c *Cache) keepList(owner string, gen uint64, all []Secret) *namespace {
	ns := &namespace{secs: all}
	for _, s := range all {
		ns.size += len(s.Name) + len(s.Value) + entryOverhead
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Too big is decided before the race check: load stops reading at the
	// budget, so a too-big all is only the first pages and must never be
	// served as the listing.
	if ns.size > c.maxBytes/2 {
		tooBig := &namespace{tooBig: true}
		if c.gen == gen {
			c.lists[owner] = tooBig
		}
		return tooBig
	}
	if c.gen != gen {
		return ns // not kept: the next read loads it again
	}
	all = slices.Clip(all)
	ns.secs = all
	c.makeRoom(ns.size)
	if old := c.lists[owner]; old != nil {
		c.bytes -= old.size
	}
	c.lists[owner] = ns
	c.bytes += ns.size
	return ns
}

// makeRoom evicts entries, then namespaces, until size more bytes fit.
func (c *Cache) makeRoom(size int) {
	for k := range c.entries {
		if c.bytes+size <= c.maxBytes {
			return
		}
		c.evict(k)
	}
	for o, ns := range c.lists {
		if c.bytes+size <= c.maxBytes {
			return
		}
		c.bytes -= ns.size
		delete(c.lists, o)
	}
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
	sec, err := c.Backend.Get(ctx, owner, name)
	if err != nil {
		return sec, err
	}
	size := len(owner) + len(name) + len(sec.Value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || size > c.maxBytes/8 {
		return sec, nil // a write may have raced this read, or it is too big to keep
	}
	c.makeRoom(size)
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
	if ns := c.lists[owner]; ns != nil {
		c.bytes -= ns.size
		delete(c.lists, owner)
	}
	for n := range names {
		c.evict(cacheKey{owner, n})
	}
}

// namesOf is the name of each of xs, for write.
func namesOf[T any](xs []T, name func(T) string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for _, x := range xs {
			if !yield(name(x)) {
				return
			}
		}
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
	names := namesOf(items, func(it Item) string { return it.Name })
	return c.write(owner, names, func() error { return c.Backend.Put(ctx, owner, items) })
}

// Delete implements Store.
func (c *Cache) Delete(ctx context.Context, owner string, names []string) error {
	return c.write(owner, slices.Values(names), func() error { return c.Backend.Delete(ctx, owner, names) })
}

// Swap implements Store.
func (c *Cache) Swap(ctx context.Context, owner, name string, old, new []byte) (ok bool, err error) {
	one := func(yield func(string) bool) { yield(name) }
	err = c.write(owner, one, func() error {
		ok, err = c.Backend.Swap(ctx, owner, name, old, new)
		return err
	})
	return ok, err
}

// The history passes through; what writes the current value (Commit,
// Destroy, SwapVersion, ImportVersions) evicts the names it touches, as
// Put does.

// Commit implements History.
func (c *Cache) Commit(ctx context.Context, cm Commit) (out []int64, err error) {
	names := namesOf(cm.Changes, func(ch Change) string { return ch.Name })
	err = c.write(cm.Owner, names, func() error {
		out, err = c.Backend.Commit(ctx, cm)
		return err
	})
	return out, err
}

// Destroy implements History.
func (c *Cache) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	return c.write(owner, slices.Values(names), func() error { return c.Backend.Destroy(ctx, owner, names, ev) })
}

// SwapVersion implements HistoryAdmin.
func (c *Cache) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (ok bool, err error) {
	one := func(yield func(string) bool) { yield(name) }
	err = c.write(owner, one, func() error {
		ok, err = c.Backend.SwapVersion(ctx, owner, name, v, old, new)
		return err
	})
	return ok, err
}

// ImportVersions implements HistoryAdmin.
func (c *Cache) ImportVersions(ctx context.Context, owner string, vs []Version) error {
	names := namesOf(vs, func(v Version) string { return v.Name })
	return c.write(owner, names, func() error { return c.Backend.ImportVersions(ctx, owner, vs) })
}
