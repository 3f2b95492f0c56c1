package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// Target is where records go: this server's store, values in plaintext
// (the caller seals them).
type Target interface {
	// Existing reports which of names the owner already has.
	Existing(ctx context.Context, owner string, names []string) (map[string]bool, error)
	// Put writes the owner's items all or nothing.
	Put(ctx context.Context, owner string, items []storage.Item) error
}

// Options tune Run. The zero value imports everything not already there.
type Options struct {
	Overwrite bool // replace secrets the target already has
	DryRun    bool // read and count, write nothing
	// BatchRecords and BatchBytes bound a write batch (and so memory);
	// 0 means 1000 records and 8 MiB.
	BatchRecords int
	BatchBytes   int
	// Now is the clock expiries are checked against; nil: time.Now.
	Now func() time.Time
	// Progress, when set, is called after each batch with the counts so far.
	Progress func(Summary)
}

// MaxRefusals is how many refused records a Summary lists; the count
// covers all of them.
const MaxRefusals = 1000

// Refusal is a record that was not imported: its owner, its name and why.
// It never holds the value.
type Refusal struct {
	Owner  string `json:"owner"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Summary counts what Run did.
type Summary struct {
	Read     int64     `json:"read"`             // records seen
	Owners   int       `json:"owners"`           // owners with a secret imported or already there
	Imported int64     `json:"imported"`         // written (or, with DryRun, to be written)
	Existing int64     `json:"skipped_existing"` // already in the target, left alone
	Expired  int64     `json:"skipped_expired"`  // past their keyv expiry
	Refused  int64     `json:"refused"`          // not importable, see Refusals
	Refusals []Refusal `json:"refusals"`         // the first MaxRefusals
	DryRun   bool      `json:"dry_run"`
}

// Run reads every record of src and writes what it can import to dst in
// batches, one atomic Put per owner and batch: an interrupted run leaves
// every secret whole or absent, and running again completes it. It
// returns the counts also on error.
func Run(ctx context.Context, src Source, dst Target, o Options) (Summary, error) {
	if o.BatchRecords <= 0 {
		o.BatchRecords = 1000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &run{dst: dst, o: o, owners: map[string]struct{}{}, sum: Summary{Refusals: []Refusal{}, DryRun: o.DryRun}}
	r.now = o.Now()
	err := src.Each(ctx, func(key string, stored []byte) error {
		r.add(key, stored)
		if r.records >= o.BatchRecords || r.bytes >= o.BatchBytes {
			return r.flush(ctx)
		}
		return ctx.Err()
	})
	if err == nil {
		err = r.flush(ctx)
	}
	r.sum.Owners = len(r.owners)
	if err != nil {
		return r.sum, fmt.Errorf("after %d records: %w", r.sum.Read, err)
	}
	return r.sum, nil
}

type group struct {
	owner string
	items []storage.Item
}

type run struct {
	dst    Target
	o      Options
	now    time.Time
	sum    Summary
	owners map[string]struct{}

	batch          []group
	records, bytes int
}

func (r *run) refuse(owner, name string, err error) {
	r.sum.Refused++
	if len(r.sum.Refusals) < MaxRefusals {
		r.sum.Refusals = append(r.sum.Refusals, Refusal{Owner: owner, Name: name, Reason: err.Error()})
	}
}

func (r *run) add(key string, stored []byte) {
	r.sum.Read++
	owner, name, err := SplitKey(key)
	if err != nil {
		r.refuse(owner, name, err)
		return
	}
	value, expired, err := Decode(stored, r.now)
	switch {
	case err != nil:
		r.refuse(owner, name, err)
		return
	case expired:
		r.sum.Expired++
		return
	}
	if n := len(r.batch); n == 0 || r.batch[n-1].owner != owner {
		r.batch = append(r.batch, group{owner: owner})
	}
	g := &r.batch[len(r.batch)-1]
	g.items = append(g.items, storage.Item{Name: name, Value: value})
	r.records++
	r.bytes += len(value) + len(name)
}

// flush writes the batch, owner by owner. Records of one owner that came
// apart (an unordered source) are merged first, so each owner gets one Put.
func (r *run) flush(ctx context.Context) error {
	defer func() {
		r.batch, r.records, r.bytes = r.batch[:0], 0, 0
		if r.o.Progress != nil {
			s := r.sum
			s.Owners = len(r.owners)
			r.o.Progress(s)
		}
	}()
	merged := make(map[string]int, len(r.batch))
	groups := r.batch[:0:0]
	for _, g := range r.batch {
		if i, ok := merged[g.owner]; ok {
			groups[i].items = append(groups[i].items, g.items...)
			continue
		}
		merged[g.owner] = len(groups)
		groups = append(groups, g)
	}
	for _, g := range groups {
		if err := r.write(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) write(ctx context.Context, g group) error {
	items := g.items
	if !r.o.Overwrite {
		have, err := r.dst.Existing(ctx, g.owner, storage.ItemNames(items))
		if err != nil {
			return fmt.Errorf("read the target: %w", err)
		}
		if len(have) > 0 {
			todo := items[:0:0]
			for _, it := range items {
				if have[it.Name] {
					r.sum.Existing++
				} else {
					todo = append(todo, it)
				}
			}
			items = todo
		}
	}
	r.owners[g.owner] = struct{}{}
	if len(items) == 0 {
		return nil
	}
	if !r.o.DryRun {
		if err := r.dst.Put(ctx, g.owner, items); err != nil {
			if errors.Is(err, storage.ErrInvalid) {
				return fmt.Errorf("the target refused a batch of %s: %w", g.owner, err)
			}
			return fmt.Errorf("write to the target: %w", err)
		}
	}
	r.sum.Imported += int64(len(items))
	return nil
}
