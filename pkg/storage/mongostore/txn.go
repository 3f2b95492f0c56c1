package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// supportsTransactions reports whether batches can run in a multi-document
// transaction: on a replica set member (the URI names one, or hello
// reports setName) or through mongos (msg "isdbgrid"), and never on
// FerretDB v1, which has none. A standalone mongod has none either.
func supportsTransactions(ferret bool, replicaSet string, hello bson.M) bool {
	if ferret {
		return false
	}
	if replicaSet != "" {
		return true
	}
	if name, _ := hello["setName"].(string); name != "" {
		return true
	}
	msg, _ := hello["msg"].(string)
	return msg == "isdbgrid"
}

// Transactions reports whether s runs each Put and Commit in a
// transaction.
func (s *Store) Transactions() bool { return s.txn }

// inTxn reports whether ctx carries the session of a transaction. There a
// failed write aborts the transaction, so code that would carry on after a
// duplicate key returns it instead, and atomically runs the whole
// transaction again.
func inTxn(ctx context.Context) bool { return mongo.SessionFromContext(ctx) != nil }

// atomically runs fn as one unit. Where the server has transactions, fn
// runs in one (the driver retries transient errors, and a duplicate key —
// a racing writer that committed first — runs it again), so everything fn
// writes lands together or not at all. Elsewhere fn runs as it is, under
// the FerretDB update lock (see lock): each of its writes is atomic alone,
// and the callers order them so that a crash between two leaves a state
// that reads correctly (see history.go).
func (s *Store) atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	if !s.txn {
		unlock, err := s.lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		return fn(ctx)
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	for attempt := 1; ; attempt++ {
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) { return nil, fn(ctx) })
		if err == nil || attempt == maxAttempts || !mongo.IsDuplicateKeyError(err) {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}
