package mongostore

import "go.mongodb.org/mongo-driver/v2/mongo"

// SetSerial turns the FerretDB update lock (see lock) on or off, so that a
// test can run either branch on any server.
func SetSerial(s *Store, on bool) {
	s.serial = nil
	if on {
		s.serial = make(chan struct{}, 1)
	}
}

// Secrets returns the secrets collection, for tests that plant documents.
func Secrets(s *Store) *mongo.Collection { return s.secrets }
