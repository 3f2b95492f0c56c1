package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

var (
	_ storage.HistoryAdmin = (*Store)(nil)
	_ storage.AuditWalker  = (*Store)(nil)
)

// WalkVersions implements storage.HistoryAdmin in two passes of pages: the
// kept versions in (owner, name, version) order, then the secrets that Put
// wrote outside the history (newer than every kept version of their name,
// as Versions reports them). Each page is read before fn runs, so fn may
// write.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	const cols = `SELECT owner, name, version, value, deleted, created_at, by_address, by_job FROM secret_versions`
	var lastOwner, lastName string
	var lastVersion int64
	first := true
	for {
		var rows *sql.Rows
		var err error
		if first {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` ORDER BY owner, name, version LIMIT ?`), walkPage)
		} else {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` WHERE owner > ? OR (owner = ? AND name > ?) OR (owner = ? AND name = ? AND version > ?)
				ORDER BY owner, name, version LIMIT ?`), lastOwner, lastOwner, lastName, lastOwner, lastName, lastVersion, walkPage)
		}
		if err != nil {
			return err
		}
		var owners []string
		var page []storage.Version
		for rows.Next() {
			var owner string
			var v storage.Version
			var value []byte
			if err := rows.Scan(&owner, &v.Name, &v.Version, &value, &v.Deleted, &v.CreatedAt, &v.By.Address, &v.By.Job); err != nil {
				rows.Close()
				return err
			}
			v.CreatedAt = v.CreatedAt.UTC()
			if !v.Deleted {
				v.Value = value
				if v.Value == nil {
					v.Value = []byte{}
				}
			}
			owners, page = append(owners, owner), append(page, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, v := range page {
			if err := fn(owners[i], v); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			break
		}
		first = false
		lastOwner, lastName, lastVersion = owners[len(page)-1], page[len(page)-1].Name, page[len(page)-1].Version
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return s.walkOutsideHistory(ctx, fn)
}

// walkOutsideHistory visits, as versions, the secrets newer than every
// kept version of their name.
func (s *Store) walkOutsideHistory(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	const cols = `SELECT s.owner, s.name, s.value, s.version, s.created_at, s.updated_at FROM secrets s WHERE
		s.version > COALESCE((SELECT MAX(version) FROM secret_versions w WHERE w.owner = s.owner AND w.name = s.name), 0)`
	var lastOwner, lastName string
	first := true
	for {
		var rows *sql.Rows
		var err error
		if first {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` ORDER BY s.owner, s.name LIMIT ?`), walkPage)
		} else {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` AND (s.owner > ? OR (s.owner = ? AND s.name > ?)) ORDER BY s.owner, s.name LIMIT ?`),
				lastOwner, lastOwner, lastName, walkPage)
		}
		if err != nil {
			return err
		}
		var owners []string
		page, err := scanSecrets(rows, nil, &owners)
		if err != nil {
			return err
		}
		for i, sec := range page {
			v := storage.Version{Name: sec.Name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt}
			if err := fn(owners[i], v); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		first = false
		lastOwner, lastName = owners[len(page)-1], page[len(page)-1].Name
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// SwapVersion implements storage.HistoryAdmin in one transaction: the kept
// version, and the current secret when it is that version with the same
// value (Commit writes both); a version that only the current secret holds
// (Put outside the history) is swapped there.
func (s *Store) SwapVersion(ctx context.Context, owner, name string, v int64, old, new []byte) (bool, error) {
	if string(old) == string(new) {
		// MySQL counts changed rows only: look instead of updating.
		got, err := s.GetVersion(ctx, owner, name, v)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil && !got.Deleted && string(got.Value) == string(old), err
	}
	var ok bool
	err := s.inTx(ctx, func(gtx *gorm.DB) error {
		return s.counted(ctx, gtx, owner, []string{name}, false, func(*sql.Tx) error {
			var err error
			ok, err = s.swapVersion(gtx, owner, name, v, old, new)
			return err
		})
	})
	return ok, err
}

// swapVersion is SwapVersion's writes, in tx.
func (s *Store) swapVersion(tx *gorm.DB, owner, name string, v int64, old, new []byte) (bool, error) {
	res := tx.Exec(`UPDATE secret_versions SET value = ? WHERE owner = ? AND name = ? AND version = ? AND value = ? AND NOT deleted`,
		new, owner, name, v, old)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 0 {
		var kept int64
		if err := tx.Raw(`SELECT COUNT(*) FROM secret_versions WHERE owner = ? AND name = ? AND version = ?`, owner, name, v).
			Row().Scan(&kept); err != nil {
			return false, err
		}
		if kept > 0 {
			return false, nil // kept with another value, or a tombstone
		}
	}
	cur := tx.Exec(`UPDATE secrets SET value = ? WHERE owner = ? AND name = ? AND version = ? AND value = ?`,
		new, owner, name, v, old)
	return res.RowsAffected == 1 || cur.RowsAffected == 1, cur.Error
}

// ImportVersions implements storage.HistoryAdmin in one transaction. A name
// that has a current secret or a kept version already fails the whole
// call (a primary key collision), so nothing is overwritten.
func (s *Store) ImportVersions(ctx context.Context, owner string, vs []storage.Version) error {
	if err := s.prepareHistory(ctx); err != nil {
		return err
	}
	var names []string // vs is sorted by name: its distinct names, in order
	for i, v := range vs {
		if i == 0 || vs[i-1].Name != v.Name {
			names = append(names, v.Name)
		}
	}
	// Counted, never refused: a restore puts back what was kept.
	err := s.inTx(ctx, func(gtx *gorm.DB) error {
		return s.counted(ctx, gtx, owner, names, false, func(tx *sql.Tx) error { return s.importVersions(ctx, gtx, tx, owner, vs) })
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%w: %s already holds a secret or version being imported", storage.ErrInvalid, owner)
	}
	return err
}

// importVersions is ImportVersions' writes, in tx.
func (s *Store) importVersions(ctx context.Context, gtx *gorm.DB, tx *sql.Tx, owner string, vs []storage.Version) error {
	ins := tx.StmtContext(ctx, s.hist.insVersion)
	for i, v := range vs {
		value := v.Value
		if v.Deleted || value == nil {
			value = []byte{}
		}
		if _, err := ins.ExecContext(ctx, owner, v.Name, v.Version, value, v.Deleted, ts(v.CreatedAt), v.By.Address, v.By.Job); err != nil {
			return translate(gtx, err)
		}
		if i+1 < len(vs) && vs[i+1].Name == v.Name || v.Deleted {
			continue
		}
		// The newest version of its name: what Secrets reads, created
		// when the oldest kept version was.
		created := v.CreatedAt
		for j := i; j >= 0 && vs[j].Name == v.Name; j-- {
			created = vs[j].CreatedAt
		}
		err := gtx.Create(&secretRow{Owner: owner, Name: v.Name, Value: value, Version: v.Version,
			CreatedAt: ts(created), UpdatedAt: ts(v.CreatedAt)}).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// ImportAudit implements storage.HistoryAdmin in one transaction.
func (s *Store) ImportAudit(ctx context.Context, owner string, events []audit.Event) error {
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM audit_events WHERE owner = ?`, owner).Row().Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the audit log of %s is not empty", storage.ErrInvalid, owner)
		}
		for _, e := range events {
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := tx.Exec(`INSERT INTO audit_events (owner, seq, time, hash, data) VALUES (?, ?, ?, ?, ?)`,
				owner, e.Seq, e.Time, e.Hash, data).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%w: the audit log of %s is not empty", storage.ErrInvalid, owner)
	}
	return err
}

// WalkAudit implements storage.AuditWalker: every owner's events oldest
// first, a page at a time.
func (s *Store) WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error {
	const cols = `SELECT owner, seq, data FROM audit_events`
	var lastOwner string
	var lastSeq uint64
	first := true
	for {
		var rows *sql.Rows
		var err error
		if first {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` ORDER BY owner, seq LIMIT ?`), walkPage)
		} else {
			rows, err = s.sqlDB.QueryContext(ctx, s.rebind(cols+` WHERE owner > ? OR (owner = ? AND seq > ?) ORDER BY owner, seq LIMIT ?`),
				lastOwner, lastOwner, lastSeq, walkPage)
		}
		if err != nil {
			return err
		}
		var owners []string
		var page []audit.Event
		for rows.Next() {
			var owner string
			var seq uint64
			var data []byte
			if err := rows.Scan(&owner, &seq, &data); err != nil {
				rows.Close()
				return err
			}
			var e audit.Event
			if err := json.Unmarshal(data, &e); err != nil {
				rows.Close()
				return fmt.Errorf("audit event %d of %s: %w", seq, owner, err)
			}
			owners, page = append(owners, owner), append(page, e)
			lastSeq = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, e := range page {
			if err := fn(owners[i], e); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		first = false
		lastOwner = owners[len(page)-1]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
