// Package mongostore implements storage.Store on MongoDB (driver v2),
// Amazon DocumentDB and FerretDB.
//
// Collections, in the database named by the URI path (default
// nosana_secrets):
//
//	secrets   {_id, owner, name, value (binary), version, created_at, updated_at},
//	          unique index (owner, name); a prefix listing is a range on it.
//	          _id is "<len(owner)>:<owner>:<name>", so that point reads and
//	          writes filter on _id alone (the one filter FerretDB v1 pushes
//	          down to SQLite instead of scanning the collection)
//	nonces    {_id: nonce, expires_at}, TTL index on expires_at
//	counters  {_id: key, n, expires_at}, TTL index on expires_at
//	meta      {_id: key, value}
//	versions, audit, audit_heads   history and audit logs (history.go,
//	          auditlog.go)
//	usage     {_id: owner, secrets, bytes}: quota use (quota.go)
//
// Put is an insertMany of the new names and one ordered BulkWrite of
// upserts for the others. On a replica set or through mongos it runs in a
// transaction, as Commit does (txn.go), and a batch is all or nothing.
// Elsewhere there is no multi-document transaction (FerretDB has none, a
// standalone mongod neither): a batch that fails half-way for a server or
// network fault leaves its first items written; invalid input is refused
// before anything is sent.
//
// DocumentDB is the same code path: mongodb://user:pass@host:27017/db?
// tls=true&tlsCAFile=/path/global-bundle.pem&retryWrites=false — every URI
// option goes to the driver unchanged, and DocumentDB rejects retryable
// writes, hence retryWrites=false.
//
// FerretDB v1 runs the same queries, with three differences, each where
// it lacks an operation. It has no TTL indexes: there, and everywhere as a
// second line, expired nonces and counters are purged lazily (at most
// every few minutes, in the background). It has no atomic update (see
// lock): Open detects it (buildInfo.ferretdbVersion) and then runs this
// process's Put, Swap, Incr, Commit and audit appends one at a time. And
// it does not say which statement of a bulk update failed, so Put does not
// retry there. Several processes on one FerretDB can still lose updates:
// run one replica there, or use MongoDB or DocumentDB. FerretDB v1 on
// SQLite also decodes the whole collection for any filter but _id alone
// (about 0.1 ms a document), so it suits tests and small installations.
// On the request path most calls filter on _id alone (TestRoundTrips
// counts them); a write's conditional update of its head and a quota's
// reservation cannot, nor can listings.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "nosana_secrets"

const (
	schemaKey     = "storage.schema_version"
	schemaVersion = "2"

	inChunk     = 1000 // names per $in (FerretDB v1 tests each document against each name)
	walkBatch   = 100
	listBatch   = 1000 // secrets per reply of a listing
	maxAttempts = 10
	purgeEvery  = 5 * time.Minute
)

// Store is a storage.Store on MongoDB.
type Store struct {
	client                           *mongo.Client
	secrets, nonces, counters, metas *mongo.Collection
	versions, events, auditHeads     *mongo.Collection // history.go
	usage                            *mongo.Collection // quota.go
	serial                           chan struct{}     // FerretDB only: one update at a time (see lock)
	ferret                           bool              // the server is FerretDB
	txn                              bool              // batches run in transactions (txn.go)
	replicaSet                       string            // the URI's replicaSet option
	quota                            storage.Quota     // quota.go

	janitor *storage.Janitor  // purges expired nonces and counters
	crash   func(step string) // tests: called between the steps of an audit append (auditlog.go)
}

var _ storage.Backend = (*Store)(nil)

// ParseURI checks a mongodb:// or mongodb+srv:// URI without any network
// access and returns the database it names (DefaultDatabase if none). The
// driver validates the options again when connecting.
func ParseURI(uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return "", errors.New("not a mongodb:// or mongodb+srv:// URI")
	}
	if _, err := url.Parse(uri); err != nil {
		return "", errors.New("malformed URI (percent-encode special characters such as @ : / ? # % in the user name and password)")
	}
	if scheme == "mongodb" {
		// Parse does no DNS lookups for mongodb:// (it does for +srv).
		if _, err := connstring.Parse(uri); err != nil {
			return "", fmt.Errorf("mongodb URI: %s", strings.TrimPrefix(err.Error(), "error parsing uri: "))
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	rest, _, _ = strings.Cut(rest, "?")
	_, db, _ := strings.Cut(rest, "/")
	db, err := url.PathUnescape(db)
	if err != nil {
		return "", errors.New("mongodb URI: malformed database name")
	}
	if db == "" {
		return DefaultDatabase, nil
	}
	if len(db) > 63 || strings.ContainsAny(db, "/\\. \"$\x00") {
		return "", fmt.Errorf("mongodb URI: %q is not a valid database name", db)
	}
	return db, nil
}

// Driver opens mongodb:// and mongodb+srv:// URIs (see ParseURI).
var Driver = storage.Driver{
	Schemes: []string{"mongodb", "mongodb+srv"},
	Parse: func(uri string) (storage.Config, error) {
		db, err := ParseURI(uri)
		if err != nil {
			return nil, err
		}
		return Config{URI: uri, Database: db}, nil
	},
}

// Config is a checked MongoDB URI.
type Config struct {
	URI      string // as given; the driver reads its options
	Database string
}

// Engine implements storage.Config.
func (Config) Engine() string { return "mongodb" }

// Open implements storage.Config. Whether the deployment has
// multi-document transactions is decided here, once, and logged: without
// them (a standalone server, FerretDB) a write of several keys that fails
// half-way can leave its first keys written (see atomically).
func (c Config) Open(ctx context.Context, o storage.OpenOptions) (storage.Backend, error) {
	s, err := openConfig(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	if s.Transactions() {
		o.Logger.Info("mongodb: each write of several keys, with its audit event, is one transaction")
	} else {
		o.Logger.Info("mongodb: this server has no transactions (standalone, or FerretDB): a write of several keys that fails half-way can leave its first keys written")
	}
	return s, nil
}

// Open connects to the URI, pings the server and creates the indexes.
func Open(ctx context.Context, uri string) (*Store, error) { return open(ctx, uri, nil) }

// open is Open with a monitor of every command sent (tests count them).
func open(ctx context.Context, uri string, monitor *event.CommandMonitor) (*Store, error) {
	db, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return openConfig(ctx, Config{URI: uri, Database: db}, monitor)
}

func openConfig(ctx context.Context, c Config, monitor *event.CommandMonitor) (*Store, error) {
	uri, db := c.URI, c.Database
	opts := options.Client().ApplyURI(uri)
	if opts.AppName == nil {
		opts.SetAppName("nosana-secrets")
	}
	if monitor != nil {
		opts.SetMonitor(monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	d := client.Database(db)
	s := &Store{
		client:   client,
		secrets:  d.Collection("secrets"),
		nonces:   d.Collection("nonces"),
		counters: d.Collection("counters"),
		metas:    d.Collection("meta"),

		versions:   d.Collection("versions"),
		events:     d.Collection("audit"),
		auditHeads: d.Collection("audit_heads"),
		usage:      d.Collection("usage"),
	}
	if opts.ReplicaSet != nil {
		s.replicaSet = *opts.ReplicaSet
	}
	s.janitor = storage.NewJanitor(purgeEvery, s.purge)
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	var info bson.M
	if err := s.secrets.Database().RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return fmt.Errorf("buildInfo: %w", err)
	}
	if _, ok := info["ferretdbVersion"]; ok {
		s.ferret = true
		s.serial = make(chan struct{}, 1)
	}
	var hello bson.M
	if err := s.secrets.Database().RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	s.txn = supportsTransactions(s.ferret, s.replicaSet, hello)
	// createIndexes is idempotent, and safe when replicas start together.
	_, err := s.secrets.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "owner", Value: 1}, {Key: "name", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("owner_name"),
	})
	if err != nil {
		return fmt.Errorf("creating index secrets.owner_name: %w", err)
	}
	if err := s.initHistory(ctx); err != nil {
		return err
	}
	for _, c := range []*mongo.Collection{s.nonces, s.counters} {
		_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: "expires_at", Value: 1}},
			Options: options.Index().SetExpireAfterSeconds(0).SetName("expires_at_ttl"),
		})
		if isNotImplemented(err) {
			// FerretDB v1: no TTL; the lazy purge does the work.
			_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys:    bson.D{{Key: "expires_at", Value: 1}},
				Options: options.Index().SetName("expires_at"),
			})
		}
		if err != nil {
			return fmt.Errorf("creating index %s.expires_at: %w", c.Name(), err)
		}
	}
	v, err := s.InitMeta(ctx, schemaKey, []byte(schemaVersion))
	if err != nil {
		return err
	}
	if string(v) == "1" {
		// Version 1 had audit events without keys, action and size.
		if err := s.upgradeAudit(ctx); err != nil {
			return fmt.Errorf("upgrading the audit logs to schema version %s: %w", schemaVersion, err)
		}
		if err := s.PutMeta(ctx, schemaKey, []byte(schemaVersion)); err != nil {
			return err
		}
		v = []byte(schemaVersion)
	}
	if string(v) != schemaVersion {
		return fmt.Errorf("the database has schema version %q; this program knows %s: upgrade nosana-secrets", v, schemaVersion)
	}
	return nil
}

// isNotImplemented reports a server that lacks a feature (code 238,
// NotImplemented, as FerretDB answers for TTL indexes) or refuses an
// option (InvalidIndexSpecificationOption, 197).
func isNotImplemented(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(238) || se.HasErrorCode(197))
}

// secretDoc is a name's current secret and, with history, its head: the
// newest version whole (see history.go).
type secretDoc struct {
	ID        string    `bson:"_id,omitempty"`
	Owner     string    `bson:"owner"`
	Name      string    `bson:"name"`
	Value     []byte    `bson:"value"`
	Version   int64     `bson:"version"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"` // when the newest version was written
	// History only: the newest version is a tombstone (Secrets sees no
	// secret), who wrote it, the first version of this life of the name,
	// and how often Swap replaced its value in place.
	Deleted   bool   `bson:"deleted,omitempty"`
	ByAddress string `bson:"by_address,omitempty"`
	ByJob     string `bson:"by_job,omitempty"`
	Base      int64  `bson:"base,omitempty"`
	Hist      bool   `bson:"hist,omitempty"` // the version is Commit's: kept when superseded
	Swaps     int64  `bson:"sw,omitempty"`
}

// notDeleted is the filter of live secrets.
var notDeleted = bson.E{Key: "deleted", Value: bson.D{{Key: "$ne", Value: true}}}

// id is the _id of a secret: injective, since the length says where the
// owner ends.
func id(owner, name string) string { return strconv.Itoa(len(owner)) + ":" + owner + ":" + name }

func byID(owner, name string) bson.D { return bson.D{{Key: "_id", Value: id(owner, name)}} }

// lock takes this process's update slot on FerretDB; elsewhere it is free.
// FerretDB v1 lacks an atomic single-document update (it runs update and
// findAndModify as a read and then a separate write), so concurrent $inc
// or conditional updates of one document lose writes. Put, Swap, Incr
// and everything atomically runs (Commit, Destroy, audit appends) take
// it; inserts (UseNonce, InitMeta) need no lock, the unique _id
// decides there.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	if s.serial == nil {
		return func() {}, nil
	}
	select {
	case s.serial <- struct{}{}:
		return func() { <-s.serial }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *secretDoc) secret() storage.Secret {
	if d.Value == nil {
		d.Value = []byte{}
	}
	return storage.Secret{Name: d.Name, Value: d.Value, Version: d.Version,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// now is the store's clock: UTC, in milliseconds, which BSON keeps exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, owner, name string) (storage.Secret, error) {
	var d secretDoc
	err := s.secrets.FindOne(ctx, byID(owner, name)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && d.Deleted {
		return storage.Secret{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Secret{}, err
	}
	return d.secret(), nil
}

func (s *Store) find(ctx context.Context, filter any, sort bson.D, out []storage.Secret) ([]storage.Secret, error) {
	opts := options.Find().SetBatchSize(listBatch)
	if sort != nil {
		opts.SetSort(sort)
	}
	cur, err := s.secrets.Find(ctx, filter, opts)
	err = each(ctx, cur, err, func(d *secretDoc) error {
		if !d.Deleted {
			out = append(out, d.secret())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var byName = bson.D{{Key: "name", Value: 1}}

// GetMany implements storage.Store.
func (s *Store) GetMany(ctx context.Context, owner string, names []string) ([]storage.Secret, error) {
	out := make([]storage.Secret, 0, len(names))
	for start := 0; start < len(names); start += inChunk {
		part := names[start:min(start+inChunk, len(names))]
		var err error
		out, err = s.find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids(owner, part)}}}}, nil, out)
		if err != nil {
			return nil, err
		}
	}
	storage.SortSecrets(out)
	return out, nil
}

func ids(owner string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = id(owner, n)
	}
	return out
}

// List implements storage.Store: a range on the (owner, name) index,
// never a regular expression.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	filter := nameRange(bson.D{{Key: "owner", Value: owner}, notDeleted}, prefix)
	return s.find(ctx, filter, byName, []storage.Secret{})
}

// Put implements storage.Store. One query finds which names exist; the
// new ones go in with one ordered insertMany (version 1), the others are
// upserts ($inc version) in one ordered BulkWrite. A writer that creates
// one of the names first makes the insert fail with a duplicate key at
// that item: it and the items after it become upserts. Every server runs
// this; FerretDB v1, which has no atomic update, under s.lock.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	return s.atomically(ctx, func(ctx context.Context) error { return s.put(ctx, owner, items) })
}

func (s *Store) put(ctx context.Context, owner string, items []storage.Item) error {
	existing, err := s.heads(ctx, owner, storage.ItemNames(items))
	if err != nil {
		return err
	}
	var use storage.Usage
	for _, it := range items {
		use = plus(use, changeUse(existing[it.Name], it.Value, false))
	}
	if err := s.reserve(ctx, owner, use, use); err != nil {
		return err
	}
	if err := s.putReserved(ctx, owner, items, existing); err != nil {
		s.giveBack(ctx, owner, minus(storage.Usage{}, use))
		return err
	}
	return nil
}

// putReserved writes items over the heads read (existing).
func (s *Store) putReserved(ctx context.Context, owner string, items []storage.Item, existing map[string]*secretDoc) error {
	if err := s.archiveHeads(ctx, existing); err != nil {
		return err
	}
	t := now()
	var fresh []storage.Item
	var upserts []mongo.WriteModel
	for _, it := range items {
		if existing[it.Name] != nil {
			upserts = append(upserts, upsert(owner, it, t))
		} else {
			fresh = append(fresh, it)
		}
	}
	if len(fresh) > 0 {
		docs := make([]any, len(fresh))
		for i, it := range fresh {
			docs[i] = secretDoc{ID: id(owner, it.Name), Owner: owner, Name: it.Name, Value: it.Value, Version: 1, CreatedAt: t, UpdatedAt: t}
		}
		_, err := s.secrets.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
		var bwe mongo.BulkWriteException
		switch {
		case err == nil:
		case errors.As(err, &bwe) && len(bwe.WriteErrors) == 1 && mongo.IsDuplicateKeyError(bwe.WriteErrors[0]) && !inTxn(ctx):
			// Another writer created some of fresh: they are upserts over
			// its heads, which count as they are.
			late := fresh[bwe.WriteErrors[0].Index:]
			if err := s.overLate(ctx, owner, late); err != nil {
				return err
			}
			for _, it := range late {
				upserts = append(upserts, upsert(owner, it, t))
			}
		default:
			return err
		}
	}
	if len(upserts) == 0 {
		return nil
	}
	return s.bulkUpsert(ctx, upserts)
}

// upsert sets it.Value, adds one to its version, undoes a tombstone and,
// if it is new, sets owner, name and created_at.
func upsert(owner string, it storage.Item, t time.Time) mongo.WriteModel {
	return mongo.NewUpdateOneModel().
		SetFilter(byID(owner, it.Name)).
		SetUpdate(bson.D{
			{Key: "$set", Value: bson.D{{Key: "value", Value: it.Value}, {Key: "updated_at", Value: t}}},
			{Key: "$unset", Value: bson.D{{Key: "deleted", Value: ""}, {Key: "by_address", Value: ""}, {Key: "by_job", Value: ""}, {Key: "hist", Value: ""}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "owner", Value: owner}, {Key: "name", Value: it.Name}, {Key: "created_at", Value: t}}},
		}).
		SetUpsert(true)
}

// bulkUpsert sends models as one ordered BulkWrite. Two upserts creating
// one document at once can make the loser fail with a duplicate key (on
// DocumentDB, and MongoDB before 4.2); the operations from that one on are
// sent again, the ones before it having been applied.
func (s *Store) bulkUpsert(ctx context.Context, models []mongo.WriteModel) error {
	for attempt := 1; ; attempt++ {
		_, err := s.secrets.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
		if err == nil {
			return nil
		}
		var bwe mongo.BulkWriteException
		if attempt == maxAttempts || inTxn(ctx) || !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || !mongo.IsDuplicateKeyError(bwe.WriteErrors[0]) {
			return err
		}
		if s.ferret {
			// FerretDB v1 reports a failed update statement at index 0,
			// whichever it was, so what was applied is unknown: give up.
			return err
		}
		models = models[bwe.WriteErrors[0].Index:]
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// each decodes every document of cur, the cursor a Find gave with err,
// into a new T and hands it to fn, stopping at fn's first error. The
// cursor is closed after, even when ctx is done.
func each[T any](ctx context.Context, cur *mongo.Cursor, err error, fn func(*T) error) error {
	if err != nil {
		return err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		d := new(T)
		if err := cur.Decode(d); err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return cur.Err()
}

// all decodes every document of cur, the cursor of a Find or Aggregate
// that answered err (passed on), as each walks them one by one.
func all[T any](ctx context.Context, cur *mongo.Cursor, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	var docs []T
	err = cur.All(ctx, &docs)
	return docs, err
}

func pause(ctx context.Context, attempt int) error {
	select {
	case <-time.After(time.Duration(attempt) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Delete implements storage.Store: the names go with every kept version,
// as Destroy does (history.go).
func (s *Store) Delete(ctx context.Context, owner string, names []string) error {
	return s.atomically(ctx, func(ctx context.Context) error { return s.destroy(ctx, owner, names) })
}

// Walk implements storage.Store: one cursor in (owner, name) order, read
// in batches. fn may write: updates that keep owner and name do not move a
// document in that order, so nothing is visited twice.
func (s *Store) Walk(ctx context.Context, fn func(owner string, s storage.Secret) error) error {
	cur, err := s.secrets.Find(ctx, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "owner", Value: 1}, {Key: "name", Value: 1}}).
		SetBatchSize(walkBatch))
	return each(ctx, cur, err, func(d *secretDoc) error {
		if d.Deleted {
			return nil
		}
		return fn(d.Owner, d.secret())
	})
}

// Snapshot implements storage.Walker: Walk, no consistent read (MongoDB
// has no read transaction across collections on every deployment).
func (s *Store) Snapshot(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	return s.Walk(ctx, fn)
}

// Swap implements storage.Store: an update whose filter holds the old
// value, so the server compares. It counts the swap (sw), so that a
// writer that copied the head before it cannot pass its copy for newer
// (see archive).
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	res, err := s.secrets.UpdateOne(ctx, append(byID(owner, name), bson.E{Key: "value", Value: old}, notDeleted),
		bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: new}}}, {Key: "$inc", Value: bson.D{{Key: "sw", Value: int64(1)}}}})
	if err != nil || res.MatchedCount == 0 {
		return false, err
	}
	return true, s.adjust(ctx, owner, storage.Usage{Bytes: int64(len(new) - len(old))})
}

// UseNonce implements storage.Store: an insert under a unique _id.
func (s *Store) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	s.janitor.Poke()
	_, err := s.nonces.InsertOne(ctx, bson.D{{Key: "_id", Value: nonce}, {Key: "expires_at", Value: expires.UTC()}})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

// Incr implements storage.Store: one upsert that adds n ($inc), sets the
// expiry only on insert ($setOnInsert) and returns the new document. If
// that counter had expired, it is deleted (unless another writer did so
// first) and the upsert runs again on a new one: one round trip a call,
// three when a window ends. Racing upserts of a new
// counter can lose with a duplicate key: the loser tries again and adds to
// the winner's document.
func (s *Store) Incr(ctx context.Context, key string, n int64, expires time.Time) (int64, error) {
	s.janitor.Poke()
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		var doc struct {
			N       int64     `bson:"n"`
			Expires time.Time `bson:"expires_at"`
		}
		err := s.counters.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: key}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "n", Value: n}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "expires_at", Value: expires.UTC()}}},
			},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
		).Decode(&doc)
		switch {
		case err == nil && (doc.Expires.After(now()) || doc.Expires.Equal(expires.UTC().Truncate(time.Millisecond))):
			return doc.N, nil // a live window, or one as expired as a new one would be
		case err == nil:
			// Added to an expired window, which the delete discards.
			if _, err := s.counters.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "expires_at", Value: doc.Expires}}); err != nil {
				return 0, err
			}
		case attempt == maxAttempts || !mongo.IsDuplicateKeyError(err):
			return 0, err
		}
		if attempt == maxAttempts {
			return 0, errRaced
		}
		if err := pause(ctx, attempt); err != nil {
			return 0, err
		}
	}
}

type metaDoc struct {
	Value []byte `bson:"value"`
}

// GetMeta implements storage.Store.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var d metaDoc
	err := s.metas.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if d.Value == nil {
		d.Value = []byte{}
	}
	return d.Value, nil
}

// InitMeta implements storage.Store: an upsert that sets the value only on
// insert, then a read.
func (s *Store) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	_, err := s.metas.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "value", Value: value}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // a racing insert won: read its value
		return nil, err
	}
	return s.GetMeta(ctx, key)
}

// PutMeta implements storage.Store.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.metas.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: value}}}}, options.UpdateOne().SetUpsert(true))
	return err
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Close implements storage.Store.
func (s *Store) Close() error {
	if !s.janitor.Close() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// purge deletes expired nonces and counters (FerretDB has no TTL index).
func (s *Store) purge(ctx context.Context) {
	filter := bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: now()}}}}
	for _, c := range []*mongo.Collection{s.nonces, s.counters} {
		if _, err := c.DeleteMany(ctx, filter); err != nil {
			return
		}
	}
}
