package seal

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// SystemOwner owns the server's own records. It is not a base58 address, so
// no token can name it.
const SystemOwner = "_nosana"

const checkName = "key-check"

var checkPlain = []byte("nosana-secrets key check v1")

// CheckStore makes sure kr opens what store holds. The first start stores a
// check value sealed with the active key; every later start must open it,
// so a wrong key stops the server instead of serving errors. It reports
// whether the check value (and so perhaps other data) was sealed with an
// older key of the ring, which `rekey` cures.
func CheckStore(ctx context.Context, store storage.Store, kr *Keyring) (old bool, err error) {
	sec, err := store.Get(ctx, SystemOwner, checkName)
	if errors.Is(err, storage.ErrNotFound) {
		blob, err := kr.Seal(SystemOwner, checkName, checkPlain)
		if err != nil {
			return false, err
		}
		return false, store.Put(ctx, SystemOwner, []storage.Item{{Name: checkName, Value: blob}})
	}
	if err != nil {
		return false, fmt.Errorf("read the key check: %w", err)
	}
	pt, err := kr.Open(SystemOwner, checkName, sec.Value)
	if err != nil || string(pt) != string(checkPlain) {
		sealedBy := "unknown"
		if len(sec.Value) > 1+idSize {
			sealedBy = hex.EncodeToString(sec.Value[1 : 1+idSize])
		}
		return false, fmt.Errorf("the master key does not open this store: its data was sealed with key id %s, "+
			"and the configured keys are %s; set MASTER_KEY or MASTER_KEY_FILE to the key it was sealed with",
			sealedBy, strings.Join(kr.IDs(), ", "))
	}
	return kr.NeedsRekey(sec.Value), nil
}
