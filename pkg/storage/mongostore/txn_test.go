package mongostore

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSupportsTransactions: batches use a transaction exactly where the
// server has them (issue 13 item 3). No replica set can be run here, so
// this is the part of the transaction path that CI tests.
func TestSupportsTransactions(t *testing.T) {
	for _, c := range []struct {
		name       string
		ferret     bool
		replicaSet string
		hello      bson.M
		want       bool
	}{
		{"standalone mongod", false, "", bson.M{"isWritablePrimary": true}, false},
		{"replicaSet in the URI", false, "rs0", bson.M{"isWritablePrimary": true, "setName": "rs0"}, true},
		{"replica set found without the URI saying so", false, "", bson.M{"setName": "rs0"}, true},
		{"mongos", false, "", bson.M{"msg": "isdbgrid"}, true},
		{"DocumentDB (reports a set)", false, "", bson.M{"setName": "rs0"}, true},
		{"FerretDB", true, "", bson.M{"isWritablePrimary": true}, false},
		{"FerretDB named as a set", true, "rs0", bson.M{"setName": "rs0"}, false},
		{"empty setName", false, "", bson.M{"setName": ""}, false},
	} {
		if got := supportsTransactions(c.ferret, c.replicaSet, c.hello); got != c.want {
			t.Errorf("%s: supportsTransactions = %v, want %v", c.name, got, c.want)
		}
	}
}
