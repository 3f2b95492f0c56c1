package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The layout's version is the meta record schemaKey. A store without one
// has layout 1 (names and data only, before history); layout 2 adds the
// history keys, which need no conversion, and the usage hash, which Open
// counts for every owner before recording version 2; layout 3 adds the
// audit log's bytes and its key and action indexes, which Open builds for
// every owner's log (one script per owner, so an owner's log is counted
// whole whatever writes run meanwhile) before recording version 3.
// Replicas of an older release keep neither usage nor audit bytes and
// indexes: upgrade them all before relying on quotas or audit filters.
const (
	schemaKey     = "storage.schema_version"
	schemaVersion = "3"
)

func (s *Store) migrate(ctx context.Context) error {
	v, err := s.GetMeta(ctx, schemaKey)
	from := "1"
	switch {
	case err == nil && string(v) == schemaVersion:
		return nil
	case err == nil && string(v) == "2":
		from = "2"
	case err == nil:
		return fmt.Errorf("the Redis layout has version %q; this program knows %s: upgrade nosana-secrets", v, schemaVersion)
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	if from == "1" {
		// Recount the usage of every owner that has secrets or history.
		if err := s.runPerOwner(ctx, recountScript, kData, kHeads); err != nil {
			return fmt.Errorf("migrating the Redis layout to version %s: %w", schemaVersion, err)
		}
	}
	// Count and index the audit log of every owner that has one.
	if err := s.runPerOwner(ctx, reindexAudit, kAudit); err != nil {
		return fmt.Errorf("migrating the Redis layout to version %s: %w", schemaVersion, err)
	}
	return s.PutMeta(ctx, schemaKey, []byte(schemaVersion))
}

// reindexAudit counts and indexes one owner's audit log again, whole.
var reindexAudit = auditScript(`
-- indexes and counts the owner's whole log again (for a log that a
-- release before the index wrote); returns its bytes
local function reindex_audit()
	redis.call('DEL', K_AIDX, K_ABYTES)
	local total, off = 0, 0
	while true do
		local ms = redis.call('ZRANGE', K_AUDIT, off, off + 999)
		for _, m in ipairs(ms) do
			index_event('ZADD', m)
			total = total + #m
		end
		if #ms < 1000 then break end
		off = off + 1000
	end
	if total > 0 then redis.call('SET', K_ABYTES, total) end
	return total
end
return reindex_audit()
`)

// runPerOwner runs sc on the keys of every owner that has a key of any of
// kinds, one owner after another.
func (s *Store) runPerOwner(ctx context.Context, sc *redis.Script, kinds ...int) error {
	owners, err := s.owners(ctx, kinds...)
	if err != nil {
		return err
	}
	for o := range owners {
		if err := s.run(ctx, sc, s.ownerKeys(o)).Err(); err != nil {
			return err
		}
	}
	return nil
}

// recountScript counts an owner's usage from what it keeps (prelude's
// recount), in one script, so it is right whatever writes run meanwhile.
var recountScript = recountingScript(`return recount()`)

// owners returns the owners that have a key of any of kinds (kNames,
// kHeads…), by SCAN on every primary (scanKeys), one kind after another.
func (s *Store) owners(ctx context.Context, kinds ...int) (map[string]struct{}, error) {
	owners := map[string]struct{}{}
	for _, k := range kinds {
		head, tail := s.prefix+"{", "}:"+keySuffixes[k]
		pattern := globEscape(head) + "*" + globEscape(tail)
		err := s.scanKeys(ctx, pattern, func(key string) {
			if strings.HasPrefix(key, head) && strings.HasSuffix(key, tail) && len(key) > len(head)+len(tail) {
				owners[key[len(head):len(key)-len(tail)]] = struct{}{}
			}
		})
		if err != nil {
			return owners, err
		}
	}
	return owners, nil
}
