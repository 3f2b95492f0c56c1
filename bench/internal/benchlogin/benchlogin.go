// Package benchlogin signs the legacy POST /login body that the bench
// tools send.
package benchlogin

import (
	"crypto/ed25519"
	"encoding/json"
	"strconv"
	"time"

	"github.com/mr-tron/base58"
)

// Body is a legacy POST /login body of key signed for now, its timestamp
// a string.
func Body(key ed25519.PrivateKey) []byte {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	b, _ := json.Marshal(map[string]string{
		"address":   base58.Encode(key.Public().(ed25519.PublicKey)),
		"signature": base58.Encode(ed25519.Sign(key, []byte("nosana_secret_"+ts))),
		"timestamp": ts,
	})
	return b
}
