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

// WalkVersions implements storage.HistoryAdmin in two passes of pages: the
// kept versions in (owner, name, version) order, then the secrets that Put
// wrote outside the history (newer than every kept version of their name,
// as Versions reports them). Each page is read before fn runs, so fn may
// write.
func (s *Store) WalkVersions(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	const cols = `SELECT owner, name, version, value, deleted, created_at, by_address, by_job FROM secret_versions`
	err := walkPages(ctx, s,
		cols+` ORDER BY owner, name, version LIMIT ?`,
		cols+` WHERE owner > ? OR (owner = ? AND name > ?) OR (owner = ? AND name = ? AND version > ?)
			ORDER BY owner, name, version LIMIT ?`,
		func(r owned[storage.Version]) []any {
			return []any{r.owner, r.owner, r.rec.Name, r.owner, r.rec.Name, r.rec.Version}
		},
		func(rows *sql.Rows) (r owned[storage.Version], err error) {
			v := &r.rec
			var value []byte
			if err := rows.Scan(&r.owner, &v.Name, &v.Version, &value, &v.Deleted, &v.CreatedAt, &v.By.Address, &v.By.Job); err != nil {
				return r, err
			}
			v.CreatedAt = v.CreatedAt.UTC()
			if !v.Deleted {
				v.Value = value
				if v.Value == nil {
					v.Value = []byte{}
				}
			}
			return r, nil
		},
		func(r owned[storage.Version]) error { return fn(r.owner, r.rec) })
	if err != nil {
		return err
	}
	return s.walkOutsideHistory(ctx, fn)
}

// walkOutsideHistory visits, as versions, the secrets newer than every
// kept version of their name.
func (s *Store) walkOutsideHistory(ctx context.Context, fn func(owner string, v storage.Version) error) error {
	const cols = `SELECT s.owner, s.name, s.value, s.version, s.created_at, s.updated_at FROM secrets s WHERE
		s.version > COALESCE((SELECT MAX(version) FROM secret_versions w WHERE w.owner = s.owner AND w.name = s.name), 0)`
	return walkPages(ctx, s,
		cols+` ORDER BY s.owner, s.name LIMIT ?`,
		cols+` AND (s.owner > ? OR (s.owner = ? AND s.name > ?)) ORDER BY s.owner, s.name LIMIT ?`,
		func(r owned[storage.Secret]) []any { return []any{r.owner, r.owner, r.rec.Name} },
		scanOwnedSecret,
		func(r owned[storage.Secret]) error {
			sec := r.rec
			return fn(r.owner, storage.Version{Name: sec.Name, Version: sec.Version, Value: sec.Value, CreatedAt: sec.UpdatedAt})
		})
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
	old, new = storage.NonNil(old), storage.NonNil(new)
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

// WalkAudit implements storage.HistoryAdmin: every owner's events oldest
// first, a page at a time.
func (s *Store) WalkAudit(ctx context.Context, fn func(owner string, e audit.Event) error) error {
	const cols = `SELECT owner, seq, data FROM audit_events`
	type row struct {
		owner string
		seq   uint64 // the column, which orders the walk
		e     audit.Event
	}
	return walkPages(ctx, s,
		cols+` ORDER BY owner, seq LIMIT ?`,
		cols+` WHERE owner > ? OR (owner = ? AND seq > ?) ORDER BY owner, seq LIMIT ?`,
		func(r row) []any { return []any{r.owner, r.owner, r.seq} },
		func(rows *sql.Rows) (r row, err error) {
			var data []byte
			if err := rows.Scan(&r.owner, &r.seq, &data); err != nil {
				return r, err
			}
			if err := json.Unmarshal(data, &r.e); err != nil {
				return r, fmt.Errorf("audit event %d of %s: %w", r.seq, r.owner, err)
			}
			return r, nil
		},
		func(r row) error { return fn(r.owner, r.e) })
}
