package mongostore

// Quotas (issue 8 item 5): usage {_id: owner, secrets, bytes}, kept while
// a quota is set (SetQuota with a limit): without transactions each count
// is a write of its own, which a store with no quota does not pay. So give
// every replica the same quota settings, and Recount the owners (or drop
// the usage collection: a missing count is recounted from the data) after
// running without a quota.
//
// A write reserves its room first: one conditional $inc whose filter holds
// the limit (use + delta <= limit), so of writers racing for the last room
// exactly as many get in as fit. Then it writes; if that fails, it gives
// the reservation back. What it frees (versions trimmed by Keep, a value
// Put overwrites, deletes) is subtracted only after it is gone. So a crash
// between the steps over-counts — room is taken that nothing uses — and
// never under-counts; Recount repairs an owner. On a replica set all of
// it runs in the write's transaction and the count is exact.
//
// What counts: a name holds room while it has a head (a tombstone too);
// its bytes are its head's value and those of its version documents that
// the head sees (history.go). An owner without a usage document (data
// written before quotas) is counted from the data when first needed.

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

type usageDoc struct {
	Secrets int64 `bson:"secrets"`
	Bytes   int64 `bson:"bytes"`
}

// SetQuota implements storage.Quotas.
func (s *Store) SetQuota(q storage.Quota) { s.quota = q }

// counting reports whether writes keep the usage documents.
func (s *Store) counting() bool { return s.quota.Secrets > 0 || s.quota.Bytes > 0 }

// Usage implements storage.Quotas: the usage document, or without one (or
// without a quota, when none is kept) a count of the data; and the audit
// bytes, which every append counts, quota or not (auditlog.go).
func (s *Store) Usage(ctx context.Context, owner string) (storage.Usage, error) {
	u, err := s.usageOf(ctx, owner)
	if err != nil {
		return storage.Usage{}, err
	}
	h, err := s.readHead(ctx, owner)
	u.AuditBytes = h.Bytes
	return u, err
}

func (s *Store) usageOf(ctx context.Context, owner string) (storage.Usage, error) {
	if s.counting() {
		if u, ok, err := s.readUsage(ctx, owner); err != nil || ok {
			return u, err
		}
	}
	return s.countOwner(ctx, owner)
}

func (s *Store) readUsage(ctx context.Context, owner string) (storage.Usage, bool, error) {
	var d usageDoc
	err := s.usage.FindOne(ctx, bson.D{{Key: "_id", Value: owner}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.Usage{}, false, nil
	}
	return storage.Usage{Secrets: d.Secrets, Bytes: d.Bytes}, err == nil, err
}

// countOwner counts owner's use from the data.
func (s *Store) countOwner(ctx context.Context, owner string) (storage.Usage, error) {
	var u storage.Usage
	heads := map[string]*secretDoc{}
	cur, err := s.secrets.Find(ctx, bson.D{{Key: "owner", Value: owner}})
	err = each(ctx, cur, err, func(d *secretDoc) error {
		heads[d.Name] = d
		u.Secrets++
		u.Bytes += int64(len(d.Value))
		return nil
	})
	if err != nil {
		return u, err
	}
	cur, err = s.versions.Find(ctx, bson.D{{Key: "owner", Value: owner}})
	err = each(ctx, cur, err, func(d *versionDoc) error {
		if heads[d.Name].sees(d) {
			u.Bytes += int64(len(d.Value))
		}
		return nil
	})
	return u, err
}

// Recount sets owner's usage, audit bytes included, to what the data
// holds: for an owner whose count a crash left too high. Writes to owner
// while it runs can make it wrong again, except on a replica set, where it
// is one transaction.
func (s *Store) Recount(ctx context.Context, owner string) error {
	return s.atomically(ctx, func(ctx context.Context) error {
		u, err := s.countOwner(ctx, owner)
		if err != nil {
			return err
		}
		_, err = s.usage.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
			bson.D{{Key: "$set", Value: usageDoc{Secrets: u.Secrets, Bytes: u.Bytes}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return err
		}
		return s.recountAudit(ctx, owner)
	})
}

// ensureUsage makes sure owner has a usage document, counting the data
// when it has none.
func (s *Store) ensureUsage(ctx context.Context, owner string) error {
	if _, ok, err := s.readUsage(ctx, owner); err != nil || ok {
		return err
	}
	u, err := s.countOwner(ctx, owner)
	if err != nil {
		return err
	}
	d := usageDoc{Secrets: u.Secrets, Bytes: u.Bytes}
	if inTxn(ctx) {
		_, err := s.usage.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
			bson.D{{Key: "$setOnInsert", Value: d}}, options.UpdateOne().SetUpsert(true))
		return err
	}
	_, err = s.usage.InsertOne(ctx, bson.D{{Key: "_id", Value: owner}, {Key: "secrets", Value: d.Secrets}, {Key: "bytes", Value: d.Bytes}})
	if mongo.IsDuplicateKeyError(err) {
		return nil // another writer counted first
	}
	return err
}

// reserve checks that a write changing owner's use by net fits the quota
// and, if so, adds add (net without what the write frees only once it is
// written). It fails with *storage.QuotaError, adding nothing.
func (s *Store) reserve(ctx context.Context, owner string, net, add storage.Usage) error {
	q := s.quota
	if !s.counting() {
		return nil
	}
	if add == (storage.Usage{}) && (q.Secrets <= 0 || net.Secrets <= 0) && (q.Bytes <= 0 || net.Bytes <= 0) {
		return nil // nothing to add or check: no round trip
	}
	if err := s.ensureUsage(ctx, owner); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		filter := bson.D{{Key: "_id", Value: owner}}
		if q.Secrets > 0 && net.Secrets > 0 {
			filter = append(filter, bson.E{Key: "secrets", Value: bson.D{{Key: "$lte", Value: q.Secrets - net.Secrets}}})
		}
		if q.Bytes > 0 && net.Bytes > 0 {
			filter = append(filter, bson.E{Key: "bytes", Value: bson.D{{Key: "$lte", Value: q.Bytes - net.Bytes}}})
		}
		res, err := s.usage.UpdateOne(ctx, filter, incUsage(add))
		if err != nil || res.MatchedCount == 1 {
			return err
		}
		u, _, err := s.readUsage(ctx, owner)
		if err != nil {
			return err
		}
		if err := storage.CheckQuota(q, u, storage.Usage{Secrets: u.Secrets + net.Secrets, Bytes: u.Bytes + net.Bytes}); err != nil {
			return err
		}
		if attempt == raceAttempts {
			return errRaced
		}
	}
}

func incUsage(d storage.Usage) bson.D {
	return bson.D{{Key: "$inc", Value: bson.D{{Key: "secrets", Value: d.Secrets}, {Key: "bytes", Value: d.Bytes}}}}
}

// adjust changes owner's count by d, unconditionally; an owner without a
// usage document is left to be counted from the data.
func (s *Store) adjust(ctx context.Context, owner string, d storage.Usage) error {
	if d == (storage.Usage{}) || !s.counting() {
		return nil
	}
	_, err := s.usage.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}}, incUsage(d))
	return err
}

// giveBack undoes d, the part of a reservation a failed write did not use,
// even when ctx is done; in a transaction the abort undoes it instead.
func (s *Store) giveBack(ctx context.Context, owner string, d storage.Usage) {
	if !inTxn(ctx) {
		_ = s.adjust(context.WithoutCancel(ctx), owner, d) // a failure over-counts, which Recount mends
	}
}

func plus(a, b storage.Usage) storage.Usage {
	return storage.Usage{Secrets: a.Secrets + b.Secrets, Bytes: a.Bytes + b.Bytes}
}

func minus(a, b storage.Usage) storage.Usage {
	return storage.Usage{Secrets: a.Secrets - b.Secrets, Bytes: a.Bytes - b.Bytes}
}

// changeUse is what writing value over head h (nil: absent) adds: a name
// if new, the value, less h's value when it is Put's (overwritten, not
// kept).
func changeUse(h *secretDoc, value []byte, del bool) storage.Usage {
	var u storage.Usage
	if !del {
		u.Bytes = int64(len(value))
	}
	switch {
	case h == nil:
		u.Secrets = 1
	case !h.Hist:
		u.Bytes -= int64(len(h.Value))
	}
	return u
}

// overLate corrects the reservation of a Put for items that another writer
// created after Put read their heads: each was counted as a new name, and
// is a write over that writer's head instead (copied first if Commit's).
func (s *Store) overLate(ctx context.Context, owner string, late []storage.Item) error {
	heads, err := s.heads(ctx, owner, storage.ItemNames(late))
	if err != nil {
		return err
	}
	if err := s.archiveHeads(ctx, heads); err != nil {
		return err
	}
	var d storage.Usage
	for _, it := range late {
		d = plus(d, minus(changeUse(heads[it.Name], it.Value, false), changeUse(nil, it.Value, false)))
	}
	return s.adjust(ctx, owner, d)
}
