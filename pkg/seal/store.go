package seal

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// SystemOwner owned the key check before it moved to a meta record; it is
// not a base58 address, so no token can name it.
const SystemOwner = "_nosana"

const (
	checkName = "key-check" // the legacy record under SystemOwner
	checkMeta = "key-check" // the meta record
	// rekeyMeta holds the id of the key a rekey reseals with while it runs,
	// and is emptied when it finishes.
	rekeyMeta = "rekey-target"
)

var checkPlain = []byte("nosana-secrets key check v1")

// Store is the seal layer of a storage stack (as Vault's barrier over its
// physical backend): values are sealed on the way down and opened on the
// way up, so everything above it sees plaintext and never the keyring.
// What carries no value (nonces, counters, meta records, Delete, Versions,
// the audit log's reads, quotas, purges, Ping, Close) passes through; what
// appends audit events gets the store's signer.
type Store struct {
	storage.Store // the layer below, which holds sealed values
	kr            *Keyring
	olderCheck    bool
	signer        *audit.Signer // the active key's audit signer
}

var _ storage.Backend = (*Store)(nil)

// AuditSigner is the audit signer of the master key with the hex id ("":
// the active key): an ed25519 key derived from it (audit.SigningPurpose).
func AuditSigner(kr *Keyring, id string) (*audit.Signer, error) {
	seed, _, err := kr.Derive(id, audit.SigningPurpose, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return audit.NewSigner(seed)
}

// AuditKeys are the public audit signing keys of every master key of the
// store's keyring, the active one first: what GET /v1/audit/key publishes.
func (s *Store) AuditKeys() []audit.PublicKey {
	out := []audit.PublicKey{}
	for _, id := range s.kr.IDs() {
		if sg, err := AuditSigner(s.kr, id); err == nil {
			out = append(out, sg.PublicKey())
		}
	}
	return out
}

// signing is ctx with the store's audit signer (audit.WithSigner), for the
// calls below that link audit events.
func (s *Store) signing(ctx context.Context) context.Context { return audit.WithSigner(ctx, s.signer) }

// ErrNoKeyCheck is OpenExisting on a store that holds no key check: one
// that no server has started on.
var ErrNoKeyCheck = errors.New("seal: the store has no key check: no server has started on it")

// OpenExisting is NewStore for a store that must exist already: it never
// writes the first key check, and answers ErrNoKeyCheck instead.
func OpenExisting(ctx context.Context, lower storage.Store, kr *Keyring) (*Store, error) {
	if _, err := lower.GetMeta(ctx, checkMeta); errors.Is(err, storage.ErrNotFound) {
		if _, lerr := lower.Get(ctx, SystemOwner, checkName); errors.Is(lerr, storage.ErrNotFound) {
			return nil, ErrNoKeyCheck
		}
	}
	return NewStore(ctx, lower, kr)
}

// NewStore puts a seal layer with kr over lower after making sure kr opens what
// lower holds. The first start stores a check value sealed with the active
// key, atomically (InitMeta), so of two servers starting with different
// keys on an empty store exactly one starts; every later start must open
// it, so a wrong key stops the server instead of serving errors.
func NewStore(ctx context.Context, lower storage.Store, kr *Keyring) (*Store, error) {
	blob, err := lower.GetMeta(ctx, checkMeta)
	if errors.Is(err, storage.ErrNotFound) {
		var init []byte
		if init, err = kr.Seal(SystemOwner, checkName, checkPlain); err != nil {
			return nil, err
		}
		// A store from before the meta record keeps its check as a secret.
		if legacy, lerr := lower.Get(ctx, SystemOwner, checkName); lerr == nil {
			init = legacy.Value
		} else if !errors.Is(lerr, storage.ErrNotFound) {
			return nil, fmt.Errorf("read the key check: %w", lerr)
		}
		blob, err = lower.InitMeta(ctx, checkMeta, init)
	}
	if err != nil {
		return nil, fmt.Errorf("read the key check: %w", err)
	}
	if pt, err := kr.Open(SystemOwner, checkName, blob); err != nil || string(pt) != string(checkPlain) {
		sealedBy := "unknown"
		if len(blob) > 1+idSize {
			sealedBy = hex.EncodeToString(blob[1 : 1+idSize])
		}
		return nil, fmt.Errorf("the master key does not open this store: its data was sealed with key id %s, "+
			"and the configured keys are %s; set MASTER_KEY or MASTER_KEY_FILE to the key it was sealed with",
			sealedBy, strings.Join(kr.IDs(), ", "))
	}
	if err := checkRekey(ctx, lower, kr); err != nil {
		return nil, err
	}
	signer, err := AuditSigner(kr, "")
	if err != nil {
		return nil, err
	}
	// An append continues a log whose head an older key of the keyring
	// signed (audit.Continue): a rekey breaks no log.
	for _, id := range kr.IDs()[1:] {
		if older, err := AuditSigner(kr, id); err == nil {
			signer.Trust(older.PublicKey())
		}
	}
	return &Store{Store: lower, kr: kr, olderCheck: kr.NeedsRekey(blob), signer: signer}, nil
}

// checkRekey refuses a keyring without the key of an unfinished rekey:
// the values it resealed open with that key only.
func checkRekey(ctx context.Context, lower storage.Store, kr *Keyring) error {
	target, err := lower.GetMeta(ctx, rekeyMeta)
	if errors.Is(err, storage.ErrNotFound) || err == nil && len(target) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the rekey record: %w", err)
	}
	for _, id := range kr.IDs() {
		if id == string(target) {
			return nil
		}
	}
	return fmt.Errorf("a rekey to master key id %s did not finish, and values it resealed open only with that key: "+
		"add that key to MASTER_KEY or MASTER_KEY_FILE (newest first), or rerun `nosana-secrets rekey` with it; "+
		"the configured keys are %s", target, strings.Join(kr.IDs(), ", "))
}

// BeginRekey records, before a rekey writes anything, the key it reseals
// with, so that until EndRekey no server starts without that key.
func (s *Store) BeginRekey(ctx context.Context) error {
	if err := s.Store.PutMeta(ctx, rekeyMeta, []byte(s.kr.ActiveID())); err != nil {
		return fmt.Errorf("record the rekey: %w", err)
	}
	return nil
}

// EndRekey clears the record of BeginRekey once every value is resealed.
func (s *Store) EndRekey(ctx context.Context) error {
	if err := s.Store.PutMeta(ctx, rekeyMeta, []byte{}); err != nil {
		return fmt.Errorf("clear the rekey record: %w", err)
	}
	return nil
}

// Lower is the layer below, whose values are sealed (backups, tools).
func (s *Store) Lower() storage.Store { return s.Store }

// KeyIDs are the hex ids of the configured keys, newest (the one that
// seals) first.
func (s *Store) KeyIDs() []string { return s.kr.IDs() }

// SealedWithOlderKey reports whether the key check, and so perhaps other
// data, was sealed with a key other than the newest: `rekey` cures it.
func (s *Store) SealedWithOlderKey() bool { return s.olderCheck }

// open unseals one value. One that does not open (altered, moved to
// another owner or key, or sealed with a key no longer configured) is an
// error wrapping ErrOpen that names the secret but never any of its bytes.
func (s *Store) open(owner string, sec storage.Secret) (storage.Secret, error) {
	v, err := s.kr.Open(owner, sec.Name, sec.Value)
	if err != nil {
		return storage.Secret{}, fmt.Errorf("secret %q of %s: %w", sec.Name, owner, err)
	}
	if v == nil {
		v = []byte{}
	}
	sec.Value = v
	return sec, nil
}

// openAll opens a listing into one buffer: one allocation, not one per
// value. The values that do not open are left out and named in an
// *storage.UnreadableError returned with the readable ones, so one bad value
// does not hide an owner's others.
func (s *Store) openAll(owner string, secs []storage.Secret, err error) ([]storage.Secret, error) {
	if err != nil {
		return nil, err
	}
	size := 0
	for _, sec := range secs {
		size += plainSize(sec.Value)
	}
	buf := make([]byte, 0, size)
	var ad []byte
	var bad []string
	out := secs[:0]
	for _, sec := range secs {
		var opened []byte
		opened, ad, err = s.kr.openAppend(buf, ad, owner, sec.Name, sec.Value)
		if err != nil {
			bad = append(bad, sec.Name)
			continue
		}
		sec.Value = opened[len(buf):len(opened):len(opened)]
		buf = opened
		out = append(out, sec)
	}
	if bad != nil {
		return out, &storage.UnreadableError{Owner: owner, Names: bad}
	}
	return out, nil
}

// Get implements storage.Secrets.
func (s *Store) Get(ctx context.Context, owner, name string) (storage.Secret, error) {
	sec, err := s.Store.Get(ctx, owner, name)
	if err != nil {
		return sec, err
	}
	return s.open(owner, sec)
}

// GetMany implements storage.Secrets.
func (s *Store) GetMany(ctx context.Context, owner string, names []string) ([]storage.Secret, error) {
	secs, err := s.Store.GetMany(ctx, owner, names)
	return s.openAll(owner, secs, err)
}

// List implements storage.Secrets.
func (s *Store) List(ctx context.Context, owner, prefix string) ([]storage.Secret, error) {
	secs, err := s.Store.List(ctx, owner, prefix)
	return s.openAll(owner, secs, err)
}

// ListPage implements storage.Secrets.
func (s *Store) ListPage(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	secs, err := s.Store.ListPage(ctx, owner, prefix, after, limit)
	return s.openAll(owner, secs, err)
}

// ListValues implements storage.ValueLister.
func (s *Store) ListValues(ctx context.Context, owner, prefix, after string, limit int) ([]storage.Secret, error) {
	secs, err := s.Store.ListValues(ctx, owner, prefix, after, limit)
	return s.openAll(owner, secs, err)
}

// Put implements storage.Secrets: each value is sealed for its owner and
// name with the newest key.
func (s *Store) Put(ctx context.Context, owner string, items []storage.Item) error {
	sealed := make([]storage.Item, len(items))
	for i, it := range items {
		blob, err := s.kr.Seal(owner, it.Name, it.Value)
		if err != nil {
			return err
		}
		sealed[i] = storage.Item{Name: it.Name, Value: blob}
	}
	return s.Store.Put(ctx, owner, sealed)
}

// Walk implements storage.Walker, with values opened.
func (s *Store) Walk(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	return s.Store.Walk(ctx, s.opening(fn))
}

// Snapshot implements storage.Walker, with values opened.
func (s *Store) Snapshot(ctx context.Context, fn func(owner string, sec storage.Secret) error) error {
	return s.Store.Snapshot(ctx, s.opening(fn))
}

// opening is fn called with each value opened.
func (s *Store) opening(fn func(string, storage.Secret) error) func(string, storage.Secret) error {
	return func(owner string, sec storage.Secret) error {
		sec, err := s.open(owner, sec)
		if err != nil {
			return err
		}
		return fn(owner, sec)
	}
}

// Swap implements storage.Walker on plaintext: the stored value is opened
// and compared with old, and swapped for new, sealed, only if the stored
// blob is still the one compared.
func (s *Store) Swap(ctx context.Context, owner, name string, old, new []byte) (bool, error) {
	read := func() ([]byte, []byte, error) {
		cur, err := s.Store.Get(ctx, owner, name)
		if err != nil {
			return nil, nil, err
		}
		pt, err := s.open(owner, cur)
		return cur.Value, pt.Value, err
	}
	return s.swapPlain(owner, name, old, new, read, func(blob, next []byte) (bool, error) {
		return s.Store.Swap(ctx, owner, name, blob, next)
	})
}

// swapPlain is the compare-and-swap of Swap and SwapVersion on plaintext:
// read gives the stored blob and its plaintext (storage.ErrNotFound: there
// is nothing to swap), and only if that plaintext is old does swap replace
// the blob, if it is still the one read, with new sealed.
func (s *Store) swapPlain(owner, name string, old, new []byte,
	read func() (blob, plain []byte, err error), swap func(blob, next []byte) (bool, error)) (bool, error) {
	blob, plain, err := read()
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if string(plain) != string(old) {
		return false, nil
	}
	next, err := s.kr.Seal(owner, name, new)
	if err != nil {
		return false, err
	}
	return swap(blob, next)
}

// Stale is a value sealed with a key other than the newest.
type Stale struct {
	Owner  string
	Name   string
	sealed []byte
	check  bool // the key check, a meta record
}

// FindStale walks the store and returns how many values it holds and those
// sealed with an older key, the key check among them (last, so that an
// interrupted rekey leaves the old key needed). It reads first and writes
// nothing: writing while a backend iterates is not safe on all.
func (s *Store) FindStale(ctx context.Context) (total int, stale []Stale, err error) {
	err = s.Store.Walk(ctx, func(owner string, sec storage.Secret) error {
		total++
		if s.kr.NeedsRekey(sec.Value) {
			stale = append(stale, Stale{Owner: owner, Name: sec.Name, sealed: sec.Value})
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, nil, err
	}
	check, err := s.Store.GetMeta(ctx, checkMeta)
	if err != nil {
		return 0, nil, fmt.Errorf("read the key check: %w", err)
	}
	total++
	if s.kr.NeedsRekey(check) {
		stale = append(stale, Stale{Owner: SystemOwner, Name: checkName, sealed: check, check: true})
	}
	return total, stale, nil
}

// reseal is sealed, of owner and name, opened and sealed again with the
// newest key; ErrOpen when no key opens it.
func (s *Store) reseal(owner, name string, sealed []byte) ([]byte, error) {
	pt, err := s.kr.Open(owner, name, sealed)
	if err != nil {
		return nil, ErrOpen
	}
	return s.kr.Seal(owner, name, pt)
}

// Reseal swaps one stale value for its reseal under the newest key, unless
// it changed since FindStale read it (then it reports false: a server
// wrote it, with the newest key). A value no key opens is ErrOpen.
func (s *Store) Reseal(ctx context.Context, st Stale) (bool, error) {
	blob, err := s.reseal(st.Owner, st.Name, st.sealed)
	if err != nil {
		return false, err
	}
	if st.check {
		// Only rekey writes the check after its creation.
		if err := s.Store.PutMeta(ctx, checkMeta, blob); err != nil {
			return false, fmt.Errorf("reseal the key check: %w", err)
		}
		s.olderCheck = false
		return true, nil
	}
	return s.Store.Swap(ctx, st.Owner, st.Name, st.sealed, blob)
}

// ActiveKeyID is the hex id of the key that seals.
func (s *Store) ActiveKeyID() string { return s.kr.ActiveID() }
