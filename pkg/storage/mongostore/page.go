package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// ListValues implements storage.ValueLister: ListPage, versions and
// times included (they are fields of the document read anyway).
func (s *Store) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	return s.ListPage(ctx, owner, prefix, after, limit)
}

// ListPage implements storage.Secrets: List's range on the (owner, name)
// index, from after on, with a limit.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	r := bson.D{}
	if after != "" {
		r = append(r, bson.E{Key: "$gt", Value: after})
	} else if prefix != "" {
		r = append(r, bson.E{Key: "$gte", Value: prefix})
	}
	if prefix != "" {
		if end, ok := storage.PrefixEnd(prefix); ok {
			r = append(r, bson.E{Key: "$lt", Value: end})
		}
	}
	filter := bson.D{{Key: "owner", Value: owner}, notDeleted}
	if len(r) > 0 {
		filter = append(filter, bson.E{Key: "name", Value: r})
	}
	cur, err := s.secrets.Find(ctx, filter, options.Find().SetSort(byName).SetLimit(int64(limit)))
	out := make([]storage.Secret, 0, min(limit, 1024))
	err = each(ctx, cur, err, func(d *secretDoc) error {
		out = append(out, d.secret())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
