package sqlstore

import "database/sql"

// AuditTermQuery is the statement of a Key or Action filter, rebound for
// s's dialect, with the kind of a Key filter: for tests that EXPLAIN it.
func AuditTermQuery(s *Store) (string, int) { return s.rebind(auditTermSQL), termKey }

// SQLDB is the store's pool: for tests that ask SQLite about a connection.
func SQLDB(s *Store) *sql.DB { return s.sqlDB }
