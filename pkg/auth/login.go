package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strconv"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// LegacyPrefix starts every legacy challenge: the signed message is
// LegacyPrefix followed by the decimal timestamp exactly as sent.
const LegacyPrefix = "nosana_secret_"

// Longest base58 forms of a 32-byte key and a 64-byte signature. Inputs are
// cut off before decoding: base58 decoding is quadratic in the input length.
const (
	maxAddressLen   = 44
	maxSignatureLen = 88
	maxTimestampLen = 20
	maxMessageLen   = 2048
)

// LoginRequest is a decoded POST /login body. Exactly one of Timestamp
// (legacy challenge) and Message (Sign-In With Solana) is set.
type LoginRequest struct {
	Address   string
	Signature string
	Timestamp string // decimal digits as sent
	Message   string
	Job       string // empty when absent
}

// ParseLoginRequest decodes and type-checks a POST /login body.
func ParseLoginRequest(body []byte) (LoginRequest, error) {
	var raw struct {
		Address   json.RawMessage `json:"address"`
		Signature json.RawMessage `json:"signature"`
		Timestamp json.RawMessage `json:"timestamp"`
		Message   json.RawMessage `json:"message"`
		Job       json.RawMessage `json:"job"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return LoginRequest{}, errorf("login body must be a JSON object with address, signature and timestamp")
	}
	var r LoginRequest
	var err error
	if r.Address, err = stringField("address", raw.Address, true); err != nil {
		return r, err
	}
	if r.Signature, err = stringField("signature", raw.Signature, true); err != nil {
		return r, err
	}
	if r.Message, err = stringField("message", raw.Message, false); err != nil {
		return r, err
	}
	if r.Job, err = stringField("job", raw.Job, false); err != nil {
		return r, err
	}
	if r.Timestamp, err = timestampField(raw.Timestamp); err != nil {
		return r, err
	}
	switch {
	case r.Message != "" && r.Timestamp != "":
		return r, errorf("send either timestamp (legacy challenge) or message (Sign-In With Solana), not both")
	case r.Message == "" && r.Timestamp == "":
		return r, errorf("timestamp is required")
	}
	return r, nil
}

// stringField returns a JSON string field; absent or null is "" unless required.
func stringField(name string, raw json.RawMessage, required bool) (string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		if required {
			return "", errorf("%s is required", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf("%s must be a string", name)
	}
	if s == "" && required {
		return "", errorf("%s is required", name)
	}
	return s, nil
}

// timestampField accepts a JSON integer or a string of decimal digits and
// returns the digits exactly as sent, since they are part of the signed text.
func timestampField(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	digits := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &digits); err != nil {
			return "", errorf("timestamp must be an integer number of seconds")
		}
	}
	if digits == "" || len(digits) > maxTimestampLen {
		return "", errorf("timestamp must be an integer number of seconds")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", errorf("timestamp must be an integer number of seconds")
		}
	}
	return digits, nil
}

// ParseAddress decodes a base58 Solana address (a 32-byte ed25519 key).
func ParseAddress(field, s string) (ed25519.PublicKey, error) {
	if len(s) > maxAddressLen {
		return nil, errorf("%s is not a Solana address: too long", field)
	}
	b, err := base58.Decode(s)
	if err != nil {
		return nil, errorf("%s is not valid base58", field)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, errorf("%s must decode to %d bytes, got %d", field, ed25519.PublicKeySize, len(b))
	}
	return ed25519.PublicKey(b), nil
}

// VerifySignature checks a base58 ed25519 signature by address over msg.
func VerifySignature(address, signature string, msg []byte) (ed25519.PublicKey, error) {
	pub, err := ParseAddress("address", address)
	if err != nil {
		return nil, err
	}
	return verifyKey(pub, signature, msg)
}

// verifyKey checks a base58 ed25519 signature by pub over msg and returns pub.
func verifyKey(pub ed25519.PublicKey, signature string, msg []byte) (ed25519.PublicKey, error) {
	if len(signature) > maxSignatureLen {
		return nil, errorc(errcode.InvalidSignature, "signature is too long for an ed25519 signature")
	}
	sig, err := base58.Decode(signature)
	if err != nil {
		return nil, errorc(errcode.InvalidSignature, "signature is not valid base58")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, errorc(errcode.InvalidSignature, "signature must decode to %d bytes, got %d", ed25519.SignatureSize, len(sig))
	}
	if SmallOrderKey(pub) {
		return nil, errorf("address is not a usable ed25519 public key (a small-order or non-canonical point); no wallet signs with it")
	}
	if !ed25519.Verify(pub, msg, sig) {
		return nil, errorc(errcode.InvalidSignature, "signature does not match the address and message")
	}
	return pub, nil
}

// VerifyLegacy checks a legacy challenge: the signature over
// LegacyPrefix+timestamp, with the timestamp within window of now. It
// returns the signer's key, decoded once.
func VerifyLegacy(r LoginRequest, now time.Time, window time.Duration) (ed25519.PublicKey, error) {
	pub, err := ParseAddress("address", r.Address)
	if err != nil {
		return nil, err
	}
	ts, err := strconv.ParseInt(r.Timestamp, 10, 64)
	if err != nil {
		return nil, errorf("timestamp must be an integer number of seconds")
	}
	skew := now.Unix() - ts
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(window/time.Second) {
		return nil, errorc(errcode.LoginWindow, "timestamp %s is outside the %s login window of the server clock (%d); sign a fresh one", r.Timestamp, window, now.Unix())
	}
	return verifyKey(pub, r.Signature, []byte(LegacyPrefix+r.Timestamp))
}

// LegacyKey is the storage key that remembers a verified legacy signature
// was counted against its wallet's limit.
func LegacyKey(r LoginRequest) string {
	return "legacy:" + r.Address + ":" + r.Timestamp + ":" + r.Signature
}

// LegacyExpiry is how long LegacyKey must be remembered: until no clock
// within the window would accept the timestamp again.
func LegacyExpiry(timestamp string, window time.Duration) time.Time {
	ts, _ := strconv.ParseInt(timestamp, 10, 64)
	return time.Unix(ts, 0).Add(window + time.Minute)
}
