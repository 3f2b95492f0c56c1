package mongostore

// History and audit logs (issue 11) without multi-document transactions.
//
// A name's head is its secrets document: the newest version whole (value,
// or a tombstone with deleted set; who wrote it; updated_at its time),
// version its number. Every write of a name is one conditional update of
// its head (filter: the version and swap count read before), or the
// insert of a new head under its unique _id, so of writers racing on one
// name exactly one wins each version, as on the SQL backends.
//
//	versions  {_id: "<secret _id>#<version, 20 digits>", owner, name,
//	          version, value, deleted, created_at, by_address, by_job, sw},
//	          index (owner, name, version), index created_at
//
// A version document is a copy of a head that a later write superseded:
// the writer of version N+1 copies head N (archive) before its
// conditional update. So the newest version is always the head, and what
// a crash between steps can leave reads correctly:
//
//   - a copy of head N without the update that supersedes it: the same
//     version twice, head and copy; readers take the head for N.
//   - a commit of several names, or one with an audit event, that stops
//     half-way: the names before the stop are written, the rest and the
//     event are not. (With transactions — replica sets — the commit is
//     one transaction: all or nothing.)
//   - version documents of a name whose head is gone (a writer copying
//     as Destroy or Delete removed the head): invisible, since a version is
//     read only if written since its head's created_at and at or above its
//     head's base (the first version of this life of the name). A head
//     that Commit creates numbers after them; a copy that finds one of
//     them under its _id replaces it. PurgeHistory removes them in time.
//
// The CAS checks of a Commit all pass on the heads read first, or nothing
// is written; a name changed by another writer between that read and its
// own update is retried (no CAS) or fails with ConflictError (CAS), with
// the names before it in the commit already written.
//
// A Put (tools and imports; the server commits when history is on) is a
// version outside the history, as on the SQL backends: it copies a head
// that Commit wrote (hist) before overwriting it, and a head that Put
// wrote is overwritten, by Put or Commit, without a copy. (A Put racing a
// Commit of the same name can lose that copy: Put's update is not
// conditional.)
//
// Audit logs, their byte counts and their queries: auditlog.go.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// raceAttempts bounds the retries of a write that keeps losing races.
const raceAttempts = 50

// errRaced is a write that lost its race too often.
var errRaced = errors.New("mongostore: raced other writers too often")

func (s *Store) initHistory(ctx context.Context) error {
	for _, ix := range []struct {
		c    *mongo.Collection
		name string
		keys bson.D
	}{
		{s.versions, "owner_name_version", bson.D{{Key: "owner", Value: 1}, {Key: "name", Value: 1}, {Key: "version", Value: 1}}},
		{s.versions, "created_at", bson.D{{Key: "created_at", Value: 1}}},
		{s.events, idxOwnerSeq, bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: 1}}},
		{s.events, "time", bson.D{{Key: "time", Value: 1}}},
		// Audit's filters (auditlog.go): keys is an array, so this is a
		// multikey index, one entry per name.
		{s.events, idxOwnerKeys, bson.D{{Key: "owner", Value: 1}, {Key: "keys", Value: 1}, {Key: "seq", Value: 1}}},
		{s.events, idxOwnerAction, bson.D{{Key: "owner", Value: 1}, {Key: "action", Value: 1}, {Key: "seq", Value: 1}}},
		{s.events, idxOwnerTime, bson.D{{Key: "owner", Value: 1}, {Key: "time", Value: 1}}},
	} {
		if _, err := ix.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)}); err != nil {
			return fmt.Errorf("creating index %s.%s: %w", ix.c.Name(), ix.name, err)
		}
	}
	return nil
}

type versionDoc struct {
	ID        string    `bson:"_id"`
	Owner     string    `bson:"owner"`
	Name      string    `bson:"name"`
	Version   int64     `bson:"version"`
	Value     []byte    `bson:"value"`
	Deleted   bool      `bson:"deleted"`
	CreatedAt time.Time `bson:"created_at"`
	ByAddress string    `bson:"by_address"`
	ByJob     string    `bson:"by_job"`
	Swaps     int64     `bson:"sw"`
}

// vid is the _id of a version document: injective, since the version has
// a fixed width.
func vid(owner, name string, v int64) string { return fmt.Sprintf("%s#%020d", id(owner, name), v) }

func (d *versionDoc) version(value bool) storage.Version {
	return versionOf(d.Name, d.Version, d.Deleted, d.CreatedAt, d.ByAddress, d.ByJob, d.Value, value)
}

// headVersion is the head as the version it holds.
func (d *secretDoc) headVersion(value bool) storage.Version {
	return versionOf(d.Name, d.Version, d.Deleted, d.UpdatedAt, d.ByAddress, d.ByJob, d.Value, value)
}

// versionOf is a version as storage gives it: the value (never nil) only
// if asked for and not a tombstone.
func versionOf(name string, version int64, deleted bool, at time.Time, address, job string, val []byte, value bool) storage.Version {
	v := storage.Version{Name: name, Version: version, Deleted: deleted, CreatedAt: at.UTC(),
		By: storage.Writer{Address: address, Job: job}}
	if value && !deleted {
		v.Value = val
		if v.Value == nil {
			v.Value = []byte{}
		}
	}
	return v
}

// live is the head's newest live version: 0 when absent or deleted.
func (d *secretDoc) live() int64 {
	if d == nil || d.Deleted {
		return 0
	}
	return d.Version
}

// heads reads the heads of names (absent ones are missing from the map).
func (s *Store) heads(ctx context.Context, owner string, names []string) (map[string]*secretDoc, error) {
	out := make(map[string]*secretDoc, len(names))
	if len(names) == 1 {
		// By _id alone, the filter FerretDB v1 answers without a scan.
		h, err := s.head(ctx, owner, names[0])
		if h != nil {
			out[h.Name] = h
		}
		return out, err
	}
	for start := 0; start < len(names); start += inChunk {
		part := names[start:min(start+inChunk, len(names))]
		cur, err := s.secrets.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids(owner, part)}}}})
		err = each(ctx, cur, err, func(d *secretDoc) error {
			out[d.Name] = d
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) head(ctx context.Context, owner, name string) (*secretDoc, error) {
	d := new(secretDoc)
	err := s.secrets.FindOne(ctx, byID(owner, name)).Decode(d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Commit implements storage.History. Every CAS is checked on the heads
// read first; then each change is one conditional update of its head
// (writeChange), and the event is appended last. On a replica set all of
// it is one transaction.
func (s *Store) Commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	var out []int64
	err := s.atomically(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.commit(ctx, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) commit(ctx context.Context, c storage.Commit) ([]int64, error) {
	names := make([]string, len(c.Changes))
	for i, ch := range c.Changes {
		names[i] = ch.Name
	}
	heads, err := s.heads(ctx, c.Owner, names)
	if err != nil {
		return nil, err
	}
	for _, ch := range c.Changes {
		if live := heads[ch.Name].live(); ch.CAS != storage.NoCAS && live != ch.CAS {
			return nil, &storage.ConflictError{Name: ch.Name, Current: live}
		}
	}
	var net, add storage.Usage
	for _, ch := range c.Changes {
		h := heads[ch.Name]
		if ch.Delete && h.live() == 0 {
			continue
		}
		d := changeUse(h, ch.Value, ch.Delete)
		freed, err := s.trimEstimate(ctx, c.Keep, h)
		if err != nil {
			return nil, err
		}
		add = plus(add, d)
		net = plus(net, storage.Usage{Secrets: d.Secrets, Bytes: d.Bytes - freed})
	}
	if err := s.reserve(ctx, c.Owner, net, add); err != nil {
		return nil, err
	}
	t := now()
	out := make([]int64, len(c.Changes))
	var used storage.Usage // what the changes written took, trims counted
	for i, ch := range c.Changes {
		v, d, err := s.writeChange(ctx, c, ch, heads[ch.Name], t)
		used = plus(used, d)
		if err != nil {
			s.giveBack(ctx, c.Owner, minus(used, add))
			return nil, err
		}
		out[i] = v
	}
	if err := s.adjust(ctx, c.Owner, minus(used, add)); err != nil {
		return nil, err
	}
	if c.Event != nil {
		if err := s.appendAudit(ctx, c.Owner, []audit.Event{*c.Event}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeChange writes ch as the next version of its name, whose head was
// read as h (nil: absent), and returns its number (0 for a delete of a
// name absent or deleted). A head changed since h is read again: a CAS
// that no longer holds is a ConflictError, a change without CAS tries
// again on the new head.
func (s *Store) writeChange(ctx context.Context, c storage.Commit, ch storage.Change, h *secretDoc, t time.Time) (int64, storage.Usage, error) {
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			var err error
			if h, err = s.head(ctx, c.Owner, ch.Name); err != nil {
				return 0, storage.Usage{}, err
			}
			if live := h.live(); ch.CAS != storage.NoCAS && live != ch.CAS {
				return 0, storage.Usage{}, &storage.ConflictError{Name: ch.Name, Current: live}
			}
		}
		if ch.Delete && h.live() == 0 {
			return 0, storage.Usage{}, nil
		}
		value := ch.Value
		if ch.Delete || value == nil {
			value = []byte{}
		}
		var next int64
		var won bool
		var err error
		base, born := int64(0), t
		if h != nil {
			next, base, born = h.Version+1, h.Base, h.CreatedAt
			won, err = s.supersede(ctx, c, ch, h, value, t)
		} else {
			next, won, err = s.createHead(ctx, c, ch.Name, value, t)
			base = next
		}
		if err != nil {
			return 0, storage.Usage{}, err
		}
		if won {
			used := changeUse(h, value, ch.Delete)
			if c.Keep > 0 && next > int64(c.Keep) {
				seen := &secretDoc{Owner: c.Owner, Name: ch.Name, Version: next, Base: base, CreatedAt: born}
				freed, err := s.trimVersions(ctx, seen, next-int64(c.Keep))
				used.Bytes -= freed
				if err != nil {
					return 0, used, err
				}
			}
			return next, used, nil
		}
		if inTxn(ctx) {
			// In a transaction a concurrent writer surfaces as a write
			// conflict, which the driver retries; a miss here means the
			// head changed under a snapshot, which cannot happen.
			return 0, storage.Usage{}, errRaced
		}
		if attempt == raceAttempts {
			return 0, storage.Usage{}, errRaced
		}
		if err := backOff(ctx, &backoff); err != nil {
			return 0, storage.Usage{}, err
		}
	}
}

// backOff waits about *d (from half of it to half again), or returns ctx's
// error, and doubles *d, up to 50 ms, for the next wait: racing writers
// spread out instead of colliding again.
func backOff(ctx context.Context, d *time.Duration) error {
	select {
	case <-time.After(*d/2 + rand.N(*d)):
	case <-ctx.Done():
		return ctx.Err()
	}
	*d = min(2**d, 50*time.Millisecond)
	return nil
}

// supersede archives head h and replaces it with ch, if the head is still
// h (same version, same swap count). It reports whether it won.
func (s *Store) supersede(ctx context.Context, c storage.Commit, ch storage.Change, h *secretDoc, value []byte, t time.Time) (bool, error) {
	if h.Hist {
		if err := s.archive(ctx, h); err != nil {
			return false, err
		}
	}
	filter := append(byID(c.Owner, ch.Name), bson.E{Key: "version", Value: h.Version}, swapsIs(h.Swaps))
	set := bson.D{
		{Key: "value", Value: value}, {Key: "version", Value: h.Version + 1}, {Key: "updated_at", Value: t},
		{Key: "deleted", Value: ch.Delete}, {Key: "by_address", Value: c.By.Address}, {Key: "by_job", Value: c.By.Job},
		{Key: "hist", Value: true},
	}
	if h.Base == 0 {
		set = append(set, bson.E{Key: "base", Value: int64(1)})
	}
	res, err := s.secrets.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// swapsIs filters on a head's swap count; a count of 0 is kept as no field.
func swapsIs(n int64) bson.E {
	if n == 0 {
		return bson.E{Key: "sw", Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: "sw", Value: n}
}

// archive copies head h into its version document. A copy of the same
// head there already is replaced only if h's value is newer (swapped more
// often), so a writer that read the head before a Swap cannot leave the
// older value.
func (s *Store) archive(ctx context.Context, h *secretDoc) error {
	d := versionDoc{ID: vid(h.Owner, h.Name, h.Version), Owner: h.Owner, Name: h.Name, Version: h.Version,
		Value: h.Value, Deleted: h.Deleted, CreatedAt: h.UpdatedAt, ByAddress: h.ByAddress, ByJob: h.ByJob, Swaps: h.Swaps}
	if d.Value == nil {
		d.Value = []byte{}
	}
	if inTxn(ctx) {
		// An insert that collides would abort the transaction.
		_, err := s.versions.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
			bson.D{{Key: "$setOnInsert", Value: d}}, options.UpdateOne().SetUpsert(true))
		return err
	}
	_, err := s.versions.InsertOne(ctx, d)
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	// The copy there is older (swapped fewer times), or a leftover of an
	// earlier life of the name (another time): replace it.
	_, err = s.versions.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "sw", Value: bson.D{{Key: "$lt", Value: h.Swaps}}}},
		bson.D{{Key: "created_at", Value: bson.D{{Key: "$ne", Value: d.CreatedAt}}}},
	}}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "value", Value: d.Value}, {Key: "deleted", Value: d.Deleted}, {Key: "created_at", Value: d.CreatedAt},
		{Key: "by_address", Value: d.ByAddress}, {Key: "by_job", Value: d.ByJob}, {Key: "sw", Value: d.Swaps},
	}}})
	return err
}

// archiveHeads copies the heads that Commit wrote before Put overwrites
// them.
func (s *Store) archiveHeads(ctx context.Context, heads map[string]*secretDoc) error {
	for _, h := range heads {
		if h.Hist {
			if err := s.archive(ctx, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// createHead inserts the head of a name that has none, numbered after any
// version documents left of the name (see the package notes), and reports
// whether it won the insert.
func (s *Store) createHead(ctx context.Context, c storage.Commit, name string, value []byte, t time.Time) (int64, bool, error) {
	last, err := s.lastVersion(ctx, c.Owner, name)
	if err != nil {
		return 0, false, err
	}
	next := last + 1
	d := secretDoc{ID: id(c.Owner, name), Owner: c.Owner, Name: name, Value: value, Version: next, CreatedAt: t, UpdatedAt: t,
		ByAddress: c.By.Address, ByJob: c.By.Job, Base: next, Hist: true}
	if inTxn(ctx) {
		res, err := s.secrets.UpdateOne(ctx, byID(c.Owner, name), bson.D{{Key: "$setOnInsert", Value: d}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return 0, false, err
		}
		return next, res.UpsertedCount == 1, nil
	}
	_, err = s.secrets.InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return 0, false, nil
	}
	return next, err == nil, err
}

// lastVersion is the newest version document of name (0: none).
func (s *Store) lastVersion(ctx context.Context, owner, name string) (int64, error) {
	var d struct {
		Version int64 `bson:"version"`
	}
	err := s.versions.FindOne(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "name", Value: name}},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}}).SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return d.Version, err
}

// trimVersions removes the version documents of head h up to version
// upTo, one by one, and returns the bytes of those it removed that h sees
// (the counted ones; see quota.go). Without a quota there is nothing to
// count: one delete, nothing read.
func (s *Store) trimVersions(ctx context.Context, h *secretDoc, upTo int64) (int64, error) {
	filter := bson.D{{Key: "owner", Value: h.Owner}, {Key: "name", Value: h.Name},
		{Key: "version", Value: bson.D{{Key: "$lte", Value: upTo}}}}
	if !s.counting() {
		_, err := s.versions.DeleteMany(ctx, filter)
		return 0, err
	}
	cur, err := s.versions.Find(ctx, filter)
	docs, err := all[versionDoc](ctx, cur, err)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, d := range docs {
		res, err := s.versions.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}})
		if err != nil {
			return freed, err
		}
		if res.DeletedCount == 1 && h.sees(&d) {
			freed += int64(len(d.Value))
		}
	}
	return freed, nil
}

// trimEstimate is what a write over head h with keep frees: the bytes of
// the counted versions that trimming will remove, h's own among them when
// its copy goes too. Without a quota nothing is counted: no read.
func (s *Store) trimEstimate(ctx context.Context, keep int, h *secretDoc) (int64, error) {
	if !s.counting() || keep <= 0 || h == nil || h.Version+1 <= int64(keep) {
		return 0, nil
	}
	upTo := h.Version + 1 - int64(keep)
	var freed int64
	if h.Hist && h.Version <= upTo {
		freed = int64(len(h.Value))
	}
	filter := visible(h)
	filter[2] = bson.E{Key: "version", Value: bson.D{{Key: "$gte", Value: h.Base}, {Key: "$lte", Value: upTo}, {Key: "$lt", Value: h.Version}}}
	cur, err := s.versions.Find(ctx, filter)
	err = each(ctx, cur, err, func(d *versionDoc) error {
		freed += int64(len(d.Value))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return freed, nil
}

// visible is the filter of name's version documents of head h: below it,
// at or above its base, written since it was created.
func visible(h *secretDoc) bson.D {
	return bson.D{{Key: "owner", Value: h.Owner}, {Key: "name", Value: h.Name},
		{Key: "version", Value: bson.D{{Key: "$gte", Value: h.Base}, {Key: "$lt", Value: h.Version}}},
		{Key: "created_at", Value: bson.D{{Key: "$gte", Value: h.CreatedAt}}}}
}

// sees reports whether d is one of head h's versions (as visible).
func (h *secretDoc) sees(d *versionDoc) bool {
	return h != nil && d.Version >= h.Base && d.Version < h.Version && !d.CreatedAt.Before(h.CreatedAt)
}

// GetVersion implements storage.History.
func (s *Store) GetVersion(ctx context.Context, owner, name string, v int64) (storage.Version, error) {
	h, err := s.head(ctx, owner, name)
	if err != nil {
		return storage.Version{}, err
	}
	switch {
	case h == nil || v > h.Version || v != 0 && v < h.Base:
		return storage.Version{}, storage.ErrNotFound
	case v == 0 && h.Deleted:
		return storage.Version{}, storage.ErrDeleted
	case v == 0 || v == h.Version:
		return h.headVersion(true), nil
	}
	var d versionDoc
	err = s.versions.FindOne(ctx, bson.D{{Key: "_id", Value: vid(owner, name, v)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.Version{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Version{}, err
	}
	if !h.sees(&d) {
		return storage.Version{}, storage.ErrNotFound
	}
	return d.version(true), nil
}

var noValue = bson.D{{Key: "value", Value: 0}}

// Versions implements storage.History.
func (s *Store) Versions(ctx context.Context, owner, name string) ([]storage.Version, error) {
	h, err := s.head(ctx, owner, name)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, storage.ErrNotFound
	}
	out := []storage.Version{h.headVersion(false)}
	cur, err := s.versions.Find(ctx, visible(h), options.Find().SetSort(bson.D{{Key: "version", Value: -1}}).SetProjection(noValue))
	err = each(ctx, cur, err, func(d *versionDoc) error {
		out = append(out, d.version(false))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// nameRange adds the range of names under prefix to filter.
func nameRange(filter bson.D, prefix string) bson.D {
	if prefix == "" {
		return filter
	}
	r := bson.D{{Key: "$gte", Value: prefix}}
	if end, ok := storage.PrefixEnd(prefix); ok {
		r = append(r, bson.E{Key: "$lt", Value: end})
	}
	return append(filter, bson.E{Key: "name", Value: r})
}

// AsOf implements storage.History: the heads written by t answer for
// their names; for the others, the newest visible version document
// written by t.
func (s *Store) AsOf(ctx context.Context, owner, prefix string, t time.Time) ([]storage.Version, error) {
	heads := map[string]*secretDoc{}
	out := []storage.Version{}
	cur, err := s.secrets.Find(ctx, nameRange(bson.D{{Key: "owner", Value: owner}}, prefix))
	err = each(ctx, cur, err, func(d *secretDoc) error {
		if !d.UpdatedAt.After(t) {
			out = append(out, d.headVersion(true))
		} else {
			heads[d.Name] = d
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(heads) == 0 {
		storage.SortVersions(out)
		return out, err
	}
	filter := nameRange(bson.D{{Key: "owner", Value: owner}}, prefix)
	filter = append(filter, bson.E{Key: "created_at", Value: bson.D{{Key: "$lte", Value: t}}})
	cur, err = s.versions.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "version", Value: -1}}))
	err = each(ctx, cur, err, func(d *versionDoc) error {
		if heads[d.Name].sees(d) { // else answered, invisible, or the head's own copy
			out = append(out, d.version(true))
			delete(heads, d.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	storage.SortVersions(out)
	return out, nil
}

// Destroy implements storage.History: the version documents go first,
// then the heads, then ev is appended; a crash between leaves heads whose
// older versions are gone, to destroy again.
func (s *Store) Destroy(ctx context.Context, owner string, names []string, ev *audit.Event) error {
	return s.atomically(ctx, func(ctx context.Context) error {
		if err := s.destroy(ctx, owner, names); err != nil {
			return err
		}
		if ev != nil {
			return s.appendAudit(ctx, owner, []audit.Event{*ev})
		}
		return nil
	})
}

// destroy removes names' version documents, then their heads, and
// subtracts what they counted (read first: a write to one of the names
// meanwhile can make the count off by that write). Without a quota there
// is nothing to count: two deletes a chunk, nothing read.
func (s *Store) destroy(ctx context.Context, owner string, names []string) error {
	for start := 0; start < len(names); start += inChunk {
		part := names[start:min(start+inChunk, len(names))]
		vf := bson.D{{Key: "owner", Value: owner}, {Key: "name", Value: bson.D{{Key: "$in", Value: part}}}}
		hf := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids(owner, part)}}}}
		if !s.counting() {
			if _, err := s.versions.DeleteMany(ctx, vf); err != nil {
				return err
			}
			if _, err := s.secrets.DeleteMany(ctx, hf); err != nil {
				return err
			}
			continue
		}
		heads, err := s.heads(ctx, owner, part)
		if err != nil {
			return err
		}
		var freed storage.Usage
		for _, h := range heads {
			freed.Secrets++
			freed.Bytes += int64(len(h.Value))
		}
		cur, err := s.versions.Find(ctx, vf)
		var vids []string
		err = each(ctx, cur, err, func(d *versionDoc) error {
			vids = append(vids, d.ID)
			if heads[d.Name].sees(d) {
				freed.Bytes += int64(len(d.Value))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(vids) > 0 {
			if _, err := s.versions.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: vids}}}}); err != nil {
				return err
			}
		}
		if len(heads) > 0 {
			if _, err := s.secrets.DeleteMany(ctx, hf); err != nil {
				return err
			}
		}
		if err := s.adjust(ctx, owner, minus(storage.Usage{}, freed)); err != nil {
			return err
		}
	}
	return nil
}

// PurgeHistory implements storage.History. Version documents are never
// the newest version (that is the head), so those written before before
// go by time alone, and what they counted is subtracted per owner; then
// each tombstone head written before before goes with a conditional
// delete (a writer that undeleted it since wins). Its older versions went
// with the first step, being older still. Without a quota the first step
// is one delete, nothing read.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time) error {
	if err := s.purgeVersions(ctx, before); err != nil {
		return err
	}
	cur, err := s.secrets.Find(ctx, bson.D{{Key: "deleted", Value: true}, {Key: "updated_at", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetProjection(noValue))
	gone, err := all[secretDoc](ctx, cur, err)
	if err != nil {
		return err
	}
	for _, h := range gone {
		err := s.atomically(ctx, func(ctx context.Context) error {
			res, err := s.secrets.DeleteOne(ctx, append(byID(h.Owner, h.Name), bson.E{Key: "version", Value: h.Version}, bson.E{Key: "deleted", Value: true}))
			if err != nil || res.DeletedCount == 0 {
				return err
			}
			return s.adjust(ctx, h.Owner, storage.Usage{Secrets: -1})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// purgeVersions is PurgeHistory's first step: the version documents
// written before before, and what they counted subtracted per owner.
func (s *Store) purgeVersions(ctx context.Context, before time.Time) error {
	filter := bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: before}}}}
	if !s.counting() {
		_, err := s.versions.DeleteMany(ctx, filter)
		return err
	}
	cur, err := s.versions.Find(ctx, filter)
	byOwner := map[string][]versionDoc{}
	err = each(ctx, cur, err, func(d *versionDoc) error {
		byOwner[d.Owner] = append(byOwner[d.Owner], *d)
		return nil
	})
	if err != nil {
		return err
	}
	for owner, docs := range byOwner {
		err := s.atomically(ctx, func(ctx context.Context) error {
			var names []string
			for _, d := range docs {
				names = append(names, d.Name)
			}
			slices.Sort(names)
			heads, err := s.heads(ctx, owner, slices.Compact(names))
			if err != nil {
				return err
			}
			var freed int64
			for _, d := range docs {
				res, err := s.versions.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}})
				if err != nil {
					return err
				}
				if res.DeletedCount == 1 && heads[d.Name].sees(&d) {
					freed += int64(len(d.Value))
				}
			}
			return s.adjust(ctx, owner, storage.Usage{Bytes: -freed})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
