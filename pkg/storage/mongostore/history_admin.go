package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// WalkVersions implements storage.HistoryAdmin: the heads in (owner, name)
// order, and for each the version documents it sees, then itself.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	cur, err := s.secrets.Find(ctx, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "owner", Value: 1}, {Key: "name", Value: 1}}).SetBatchSize(walkBatch))
	return each(ctx, cur, err, func(h *secretDoc) error {
		vc, err := s.versions.Find(ctx, visible(h), options.Find().SetSort(bson.D{{Key: "version", Value: 1}}))
		docs, err := all[versionDoc](ctx, vc, err)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if err := fn(h.Owner, d.version(true)); err != nil {
				return err
			}
		}
		return fn(h.Owner, h.headVersion(true))
	})
}

// SwapVersion implements storage.HistoryAdmin. The newest version is the
// head: Swap, and its copy if a writer left one. An older one is its
// version document, if the head sees it.
func (s *Store) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	h, err := s.head(ctx, owner, name)
	if err != nil || h == nil || v > h.Version {
		return false, err
	}
	if v == h.Version {
		ok, err := s.Swap(ctx, owner, name, old, new)
		if err != nil || !ok {
			return ok, err
		}
		_, err = s.versions.UpdateOne(ctx, bson.D{{Key: "_id", Value: vid(owner, name, v)}, {Key: "value", Value: old}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: new}}}, {Key: "$inc", Value: bson.D{{Key: "sw", Value: int64(1)}}}})
		return true, err
	}
	filter := visible(h)
	filter = append(filter, bson.E{Key: "_id", Value: vid(owner, name, v)}, bson.E{Key: "value", Value: old}, bson.E{Key: "deleted", Value: false})
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	res, err := s.versions.UpdateOne(ctx, filter,
		bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: new}}}, {Key: "$inc", Value: bson.D{{Key: "sw", Value: int64(1)}}}})
	if err != nil || res.MatchedCount == 0 {
		return false, err
	}
	return true, s.adjust(ctx, owner, storage.Usage{Bytes: int64(len(new) - len(old))})
}

// ImportVersions implements storage.HistoryAdmin. The version documents
// go in first and the heads after them, so that a crash between leaves
// versions no head sees (history.go); the use is reserved before either
// and given back if they fail. On a replica set it is one transaction.
//
// Without a transaction a kill can stop it after the reservation, with some
// version documents in and no head: a later import of those names finds
// them (no head sees them, so nothing else wrote them), removes them, and
// counts the owner anew once it is done, so the kill's reservation is not
// left counted and its documents do not collide.
func (s *Store) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	if len(vs) == 0 {
		return nil
	}
	leftover := false
	err := s.atomically(ctx, func(ctx context.Context) error {
		var names []string
		for i, v := range vs {
			if i == 0 || v.Name != vs[i-1].Name {
				names = append(names, v.Name)
			}
		}
		held, err := s.heads(ctx, owner, names)
		if err != nil {
			return err
		}
		for name := range held {
			return fmt.Errorf("%w: %q holds %s already; import into a namespace without it", storage.ErrInvalid, owner, name)
		}
		if !inTxn(ctx) {
			res, err := s.versions.DeleteMany(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "name", Value: bson.D{{Key: "$in", Value: names}}}})
			if err != nil {
				return err
			}
			leftover = res.DeletedCount > 0
		}
		var docs, heads []any
		use := storage.Usage{Secrets: int64(len(names))}
		for i := 0; i < len(vs); {
			j := i
			for j < len(vs) && vs[j].Name == vs[i].Name {
				j++
			}
			first, newest := vs[i], vs[j-1] // Checked sorts by name and number
			for _, v := range vs[i:j] {
				use.Bytes += int64(len(v.Value))
				if v.Version == newest.Version {
					continue
				}
				docs = append(docs, versionDoc{ID: vid(owner, v.Name, v.Version), Owner: owner, Name: v.Name, Version: v.Version,
					Value: storage.NonNil(v.Value), Deleted: v.Deleted, CreatedAt: v.CreatedAt, ByAddress: v.By.Address, ByJob: v.By.Job})
			}
			heads = append(heads, secretDoc{ID: id(owner, newest.Name), Owner: owner, Name: newest.Name, Value: storage.NonNil(newest.Value),
				Version: newest.Version, CreatedAt: first.CreatedAt, UpdatedAt: newest.CreatedAt, Deleted: newest.Deleted,
				ByAddress: newest.By.Address, ByJob: newest.By.Job, Base: first.Version, Hist: true})
			i = j
		}
		if s.counting() {
			if err := s.ensureUsage(ctx, owner); err != nil {
				return err
			}
		}
		if err := s.adjust(ctx, owner, use); err != nil {
			return err
		}
		err = s.insertAll(ctx, s.versions, docs)
		if err == nil {
			err = s.insertAll(ctx, s.secrets, heads)
		}
		if err != nil {
			s.giveBack(ctx, owner, minus(storage.Usage{}, use))
		}
		return err
	})
	if err == nil && leftover {
		err = s.Recount(ctx, owner)
	}
	return err
}

// insertAll inserts docs in order, in batches.
func (s *Store) insertAll(ctx context.Context, c *mongo.Collection, docs []any) error {
	for i := 0; i < len(docs); i += inChunk {
		if _, err := c.InsertMany(ctx, docs[i:min(i+inChunk, len(docs))], options.InsertMany().SetOrdered(true)); err != nil {
			return err
		}
	}
	return nil
}

// insertCounted is insertAll, and how many of docs are surely in, when it
// fails, and surely out after those: the batches before the one that
// failed, and the documents before the failed one where the server says
// which (FerretDB v1 may not say right).
func (s *Store) insertCounted(ctx context.Context, c *mongo.Collection, docs []any) (int, error) {
	for i := 0; i < len(docs); i += inChunk {
		if _, err := c.InsertMany(ctx, docs[i:min(i+inChunk, len(docs))], options.InsertMany().SetOrdered(true)); err != nil {
			var bwe mongo.BulkWriteException
			if !s.ferret && errors.As(err, &bwe) && len(bwe.WriteErrors) == 1 {
				return i + bwe.WriteErrors[0].Index, err
			}
			return min(i+inChunk, len(docs)), err
		}
	}
	return len(docs), nil
}

// ImportAudit implements storage.HistoryAdmin: the events as they are,
// into a log that must be empty (or hold the start of events, which an
// import killed without a transaction left: importedPrefix), counted
// first (auditlog.go), and the head hint on the last.
func (s *Store) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	resumed := false
	err := s.atomically(ctx, func(ctx context.Context) error {
		done, err := s.importedPrefix(ctx, owner, events)
		if err != nil {
			return err
		}
		resumed = done > 0
		events := events[done:]
		docs := make([]any, len(events))
		var size int64
		for i, e := range events {
			d, err := newEventDoc(owner, e)
			if err != nil {
				return err
			}
			docs[i], size = d, size+d.Size
		}
		if _, err := s.reserveAudit(ctx, owner, size); err != nil {
			return err
		}
		if n, err := s.insertCounted(ctx, s.events, docs); err != nil {
			// What may be in stays counted: too high, never too low.
			var out int64
			for _, d := range docs[n:] {
				out += d.(eventDoc).Size
			}
			s.giveBackAudit(ctx, owner, out)
			if mongo.IsDuplicateKeyError(err) && !inTxn(ctx) {
				return errors.Join(fmt.Errorf("%w: the audit log of %q is not empty", storage.ErrInvalid, owner), err)
			}
			return err
		}
		last := events[len(events)-1]
		return s.moveHint(ctx, owner, hintOf(audit.Head{Seq: last.Seq, Hash: last.Hash}, last), 0)
	})
	if err == nil && resumed {
		// The killed import's reservation of the whole log is counted too.
		err = s.Recount(ctx, owner)
	}
	return err
}

// importedPrefix is how many of events owner's log holds already: 0 for
// an empty log, or k when it holds exactly the first k of them (an import
// that a kill stopped, without a transaction), which the import goes on
// after. A log with anything else (or all of them) is not empty.
func (s *Store) importedPrefix(ctx context.Context, owner string, events []audit.Event) (int, error) {
	cur, err := s.events.Find(ctx, bson.D{{Key: "owner", Value: owner}}, options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).
		SetHint(idxOwnerSeq).SetBatchSize(scanBatch).SetProjection(bson.D{{Key: "seq", Value: 1}, {Key: "hash", Value: 1}}))
	k, match := 0, true
	err = each(ctx, cur, err, func(d *eventDoc) error {
		if k >= len(events)-1 || uint64(d.Seq) != events[k].Seq || d.Hash != events[k].Hash {
			match = false
			return errEnough
		}
		k++
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, err
	}
	if !match {
		return 0, fmt.Errorf("%w: the audit log of %q is not empty", storage.ErrInvalid, owner)
	}
	return k, nil
}

// WalkAudit implements storage.HistoryAdmin: every event in (owner, seq)
// order, from each owner's trim point on (as Audit reads them).
func (s *Store) WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error {
	firsts := map[string]int64{}
	cur, err := s.auditHeads.Find(ctx, bson.D{{Key: "first", Value: bson.D{{Key: "$gt", Value: int64(0)}}}})
	err = each(ctx, cur, err, func(d *struct {
		Owner string `bson:"_id"`
		First int64  `bson:"first"`
	}) error {
		firsts[d.Owner] = d.First
		return nil
	})
	if err != nil {
		return err
	}
	cur, err = s.events.Find(ctx, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: 1}}).SetBatchSize(walkBatch))
	return each(ctx, cur, err, func(d *eventDoc) error {
		if d.Seq < firsts[d.Owner] {
			return nil
		}
		e, err := decodeEvent(d)
		if err != nil {
			return err
		}
		return fn(d.Owner, e)
	})
}
