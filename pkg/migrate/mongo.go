package migrate

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/mongostore"
)

// mongoSource reads @keyv/mongo's layout: documents {key, value, expiresAt}
// in the keyv collection of the URI's database, value the envelope text.
// TLS and every other option of the URI (tls, tlsCAFile, replicaSet,
// retryWrites=false for DocumentDB, …) are the driver's.
type mongoSource struct {
	client *mongo.Client
	coll   *mongo.Collection
}

func openMongo(ctx context.Context, uri string) (Source, error) {
	db, err := mongostore.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(uri)
	if opts.AppName == nil {
		opts.SetAppName("nosana-secrets-migrate")
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return &mongoSource{client: client, coll: client.Database(db).Collection("keyv")}, nil
}

func (s *mongoSource) Count(ctx context.Context) (int64, error) {
	return s.coll.EstimatedDocumentCount(ctx)
}

// Each reads the documents in key order (the adapter's unique key index).
func (s *mongoSource) Each(ctx context.Context, fn func(key string, stored []byte) error) error {
	cur, err := s.coll.Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "key", Value: 1}}).
			SetProjection(bson.D{{Key: "key", Value: 1}, {Key: "value", Value: 1}}).
			SetBatchSize(1000))
	if err != nil {
		return err
	}
	defer cur.Close(context.Background())
	for cur.Next(ctx) {
		key, ok := cur.Current.Lookup("key").StringValueOK()
		if !ok {
			continue // not a keyv record: nothing names it
		}
		value, ok := cur.Current.Lookup("value").StringValueOK()
		var stored []byte
		if ok {
			stored = []byte(value)
		}
		if err := fn(key, stored); err != nil {
			return err
		}
	}
	return cur.Err()
}

func (s *mongoSource) Close() error { return s.client.Disconnect(context.Background()) }
