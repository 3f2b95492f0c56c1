package auth

import (
	"bytes"

	"filippo.io/edwards25519"
)

// SmallOrderKey reports whether b encodes one of the eight points of small
// order, or encodes any point non-canonically: keys ed25519.Verify lets
// anyone "sign" for (R = identity, S = 0 verifies for a share of messages),
// and which no wallet holds. Bytes that are not a point at all are not
// reported; no signature verifies for them.
func SmallOrderKey(b []byte) bool {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return false
	}
	if !bytes.Equal(p.Bytes(), b) {
		return true
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}
