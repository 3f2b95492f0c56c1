package sqlstore

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// retryable reports whether err is a transient conflict after which the
// whole statement or transaction can simply run again.
func retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "40001", // serialization_failure
			"40P01", // deadlock_detected
			"55P03": // lock_not_available
			return true
		}
		return false
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1213, // ER_LOCK_DEADLOCK
			1205: // ER_LOCK_WAIT_TIMEOUT
			return true
		}
		return false
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 5, // SQLITE_BUSY (and BUSY_SNAPSHOT, BUSY_RECOVERY, …)
			6: // SQLITE_LOCKED
			return true
		}
	}
	return false
}
