// Package keypair reads and writes Solana keypair files: the JSON array of
// 64 numbers that solana-keygen writes (the 32-byte ed25519 seed followed by
// the 32-byte public key).
//
// A *Keypair never shows its key bytes: String, GoString and Format print the
// address only, and no error of this package quotes the file's content.
package keypair

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mr-tron/base58"
)

// EnvVar is the environment variable that names the keypair file.
const EnvVar = "NOSANA_SECRETS_KEYPAIR"

// EnvJSON is the environment variable that holds the keypair itself, the
// 64-number JSON array, for CI systems that hand secrets over as variables.
const EnvJSON = "NOSANA_SECRETS_KEYPAIR_JSON"

// maxFileSize bounds what Load reads: a keypair file is about 250 bytes.
const maxFileSize = 64 << 10

// Keypair is an ed25519 Solana keypair. It implements crypto.Signer.
type Keypair struct {
	priv ed25519.PrivateKey
}

// DefaultPath is where solana-keygen puts the default keypair:
// ~/.config/solana/id.json (on every OS, as the Solana CLI does).
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the home directory for the default keypair: %w; pass --keypair or set %s", err, EnvVar)
	}
	return filepath.Join(home, ".config", "solana", "id.json"), nil
}

// Generate returns a new random keypair.
func Generate() (*Keypair, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate keypair: %w", err)
	}
	return &Keypair{priv: priv}, nil
}

// FromSeed returns the keypair of a 32-byte ed25519 seed.
func FromSeed(seed []byte) (*Keypair, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keypair seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return &Keypair{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Address is the base58 public key, the account's Solana address.
func (k *Keypair) Address() string { return base58.Encode(k.priv[ed25519.SeedSize:]) }

// PublicKey is the 32-byte ed25519 public key.
func (k *Keypair) PublicKey() ed25519.PublicKey {
	return ed25519.PublicKey(bytes.Clone(k.priv[ed25519.SeedSize:]))
}

// Public implements crypto.Signer.
func (k *Keypair) Public() crypto.PublicKey { return k.PublicKey() }

// Sign implements crypto.Signer: an ed25519 signature over msg (opts must
// be crypto.Hash(0), as for ed25519.PrivateKey).
func (k *Keypair) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.priv.Sign(r, msg, opts)
}

// SignMessage is the 64-byte ed25519 signature over msg.
func (k *Keypair) SignMessage(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// String is the address; key bytes are never printed.
func (k *Keypair) String() string { return "keypair " + k.Address() }

// GoString keeps %#v from printing key bytes.
func (k *Keypair) GoString() string { return "keypair.Keypair{" + k.Address() + "}" }

// Format keeps every fmt verb from printing key bytes.
func (k *Keypair) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, k.GoString())
		return
	}
	_, _ = io.WriteString(f, k.String())
}

// MarshalJSON is the solana-keygen file format: a JSON array of the 64
// bytes, seed then public key, without spaces.
func (k *Keypair) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, c := range k.priv {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(c)))
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// Error is a keypair file that cannot be used. Its message names the file
// and what to do, never the file's content.
type Error struct {
	Path string
	Msg  string
	Err  error // the underlying error, e.g. fs.ErrNotExist
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by the Error of a missing keypair file.
var ErrNotFound = fs.ErrNotExist

// LooksLikeKey reports whether s, given where a path is expected, is more
// likely a key than a file name: a JSON array, or a run of 40 or more
// letters and digits alone (a base58 or hex private key). No message ever
// shows such a string.
func LooksLikeKey(s string) bool {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		return true
	}
	if len(s) < 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// errKeyAsPath is the error for a key given where its file's path belongs.
func errKeyAsPath() error {
	return &Error{Msg: fmt.Sprintf("the keypair path holds what looks like the key itself, not a file name (it is not shown); "+
		"put the JSON array in %s, or the file's path in --keypair or %s", EnvJSON, EnvVar)}
}

// Load reads a solana-keygen keypair file and checks that its public half
// belongs to its seed.
func Load(path string) (*Keypair, error) {
	if LooksLikeKey(path) {
		return nil, errKeyAsPath()
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Path: path, Err: err, Msg: fmt.Sprintf(
				"no keypair file at %s; create one with 'nosana-secrets keygen' (or 'solana-keygen new'), or pass --keypair / set %s", path, EnvVar)}
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, &Error{Path: path, Err: err, Msg: fmt.Sprintf(
				"cannot read the keypair file %s: permission denied; check its owner and mode (chmod 600)", path)}
		}
		return nil, &Error{Path: path, Err: err, Msg: fmt.Sprintf("cannot read the keypair file %s: %v", path, pathless(err))}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("keypair path %s is a directory; pass the keypair's JSON file", path)}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &Error{Path: path, Err: err, Msg: fmt.Sprintf("cannot read the keypair file %s: %v", path, pathless(err))}
	}
	if len(b) > maxFileSize {
		return nil, invalid("keypair file "+path, "is far too large for a keypair file")
	}
	return parse("keypair file "+path, b)
}

// Read reads a keypair from r (at most 64 KiB); src says where from in
// errors, e.g. "the keypair on stdin".
func Read(src string, r io.Reader) (*Keypair, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot read %s: %v", src, err)}
	}
	if len(b) > maxFileSize {
		return nil, invalid(src, "is far too large for a keypair")
	}
	return parse(src, b)
}

// Parse decodes a keypair in the solana-keygen format; src says where it
// comes from in errors, e.g. "the keypair in $NOSANA_SECRETS_KEYPAIR_JSON".
func Parse(src string, b []byte) (*Keypair, error) { return parse(src, b) }

func parse(src string, b []byte) (*Keypair, error) {
	var nums []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&nums); err != nil {
		return nil, invalid(src, "is not a JSON array of numbers")
	}
	if dec.More() {
		return nil, invalid(src, "has data after the JSON array")
	}
	for _, n := range nums {
		if len(n) == 0 || !(n[0] == '-' || n[0] >= '0' && n[0] <= '9') {
			return nil, invalid(src, "is not a JSON array of numbers")
		}
	}
	if len(nums) != ed25519.PrivateKeySize {
		return nil, invalid(src, fmt.Sprintf("holds %d numbers; a keypair has %d (seed and public key)", len(nums), ed25519.PrivateKeySize))
	}
	raw := make([]byte, ed25519.PrivateKeySize)
	for i, n := range nums {
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 0 || v > 255 {
			return nil, invalid(src, fmt.Sprintf("entry %d is not an integer from 0 to 255", i+1))
		}
		raw[i] = byte(v)
	}
	priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
		return nil, invalid(src, "has a public key that does not belong to its seed; the file is damaged")
	}
	clear(raw)
	return &Keypair{priv: priv}, nil
}

func invalid(src, what string) error {
	return &Error{Msg: fmt.Sprintf("%s %s; it must be the 64-number JSON array of solana-keygen", src, what)}
}

// pathless drops the path from an *fs.PathError, which the message already names.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LooseMode reports whether the file at path can be read by its group or
// by others (never on Windows, which has no such mode bits).
func LooseMode(path string) (fs.FileMode, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return st.Mode().Perm(), looseMode(st.Mode())
}

// ErrExists is returned by WriteFile when the file exists and force is false.
var ErrExists = fs.ErrExist

// WriteFile writes k to path in the solana-keygen format with mode 0600,
// creating missing parent directories with mode 0700. It refuses to replace
// an existing file unless force is set; a replacement is atomic.
func (k *Keypair) WriteFile(path string, force bool) error {
	if LooksLikeKey(path) {
		return errKeyAsPath()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create the directory of %s: %w", path, pathless(err))
	}
	data, _ := k.MarshalJSON()
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return &Error{Path: path, Err: ErrExists, Msg: fmt.Sprintf(
				"%s already exists; refusing to overwrite a keypair (its funds and secrets would be lost): pass --force to replace it", path)}
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", path, pathless(err))
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("write %s: %w", path, pathless(err))
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keypair-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, pathless(err))
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && !isWindows {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, pathless(err))
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, pathless(err))
	}
	return nil
}
