package keypair_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/keypair"
)

func vectorFile(t *testing.T) (string, *vectors.Vectors) {
	t.Helper()
	v := vectors.Load(t)
	b, err := json.Marshal(v.Keypair.KeygenJSON)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, v
}

func TestLoadVector(t *testing.T) {
	p, v := vectorFile(t)
	kp, err := keypair.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := kp.Address(); got != v.Keypair.Address {
		t.Errorf("address %s, want %s", got, v.Keypair.Address)
	}
	if got := hex.EncodeToString(kp.PublicKey()); got != v.Keypair.PublicKeyHex {
		t.Errorf("public key %s, want %s", got, v.Keypair.PublicKeyHex)
	}
	// The legacy login signature of the vectors is deterministic (ed25519).
	sig := kp.SignMessage([]byte(v.LegacyLogin.MessageUTF8))
	if got := base58.Encode(sig); got != v.LegacyLogin.SignatureBase58 {
		t.Errorf("signature %s, want %s", got, v.LegacyLogin.SignatureBase58)
	}
	// crypto.Signer gives the same bytes.
	sig2, err := kp.Sign(nil, []byte(v.LegacyLogin.MessageUTF8), crypto.Hash(0))
	if err != nil || string(sig2) != string(sig) {
		t.Errorf("crypto.Signer signature differs: %v", err)
	}
	if !ed25519.Verify(kp.Public().(ed25519.PublicKey), []byte("x"), kp.SignMessage([]byte("x"))) {
		t.Error("signature does not verify")
	}
	// Round trip to the solana-keygen format.
	b, _ := kp.MarshalJSON()
	var nums []int
	if err := json.Unmarshal(b, &nums); err != nil || fmt.Sprint(nums) != fmt.Sprint(v.Keypair.KeygenJSON) {
		t.Errorf("MarshalJSON = %s, want the vector's array", b)
	}
}

func TestNeverPrintsKeyBytes(t *testing.T) {
	p, v := vectorFile(t)
	kp, err := keypair.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	seedByte := fmt.Sprint(v.Keypair.KeygenJSON[:8]) // "[0 1 2 3 …]"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		got := fmt.Sprintf(verb, kp)
		if !strings.Contains(got, v.Keypair.Address) || strings.Contains(got, strings.Trim(seedByte, "[]")) {
			t.Errorf("%s printed %q", verb, got)
		}
	}
	got := fmt.Sprintf("%v", struct{ K *keypair.Keypair }{kp})
	if !strings.Contains(got, v.Keypair.Address) {
		t.Errorf("nested %%v printed %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	v := vectors.Load(t)
	good, _ := json.Marshal(v.Keypair.KeygenJSON)
	tampered := append([]int(nil), v.Keypair.KeygenJSON...)
	tampered[40] ^= 1
	bad, _ := json.Marshal(tampered)
	outOfRange := strings.Replace(string(good), "[0,", "[256,", 1)
	negative := strings.Replace(string(good), "[0,", "[-1,", 1)
	fraction := strings.Replace(string(good), "[0,", "[0.5,", 1)
	cases := []struct {
		name, content, want string
	}{
		{"empty", "", "not a JSON array"},
		{"not json", "hello", "not a JSON array"},
		{"object", `{"a":1}`, "not a JSON array"},
		{"strings", `["1","2"]`, "not a JSON array"},
		{"short", "[1,2,3]", "holds 3 numbers; a keypair has 64"},
		{"long", strings.Replace(string(good), "]", ",1]", 1), "holds 65 numbers"},
		{"out of range", outOfRange, "entry 1 is not an integer from 0 to 255"},
		{"negative", negative, "entry 1 is not an integer"},
		{"fraction", fraction, "entry 1 is not an integer"},
		{"trailing data", string(good) + "[]", "has data after"},
		{"public mismatch", string(bad), "does not belong to its seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "id.json")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := keypair.Load(p)
			var ke *keypair.Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %v is not a *keypair.Error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, p) {
				t.Errorf("error %q lacks %q or the path", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			// No key material in the message: the second half of the
			// vector's bytes never appears.
			if strings.Contains(msg, "161,7,191") || strings.Contains(msg, "161 7 191") {
				t.Errorf("error %q quotes key bytes", msg)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "id.json")
	_, err := keypair.Load(p)
	if !errors.Is(err, keypair.ErrNotFound) {
		t.Fatalf("error %v is not ErrNotFound", err)
	}
	for _, want := range []string{p, "nosana-secrets keygen", "solana-keygen new", "--keypair", keypair.EnvVar} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	_, err = keypair.Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestLooseMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	p, _ := vectorFile(t)
	if _, loose := keypair.LooseMode(p); loose {
		t.Error("0600 reported loose")
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if mode, loose := keypair.LooseMode(p); !loose || mode != 0o644 {
		t.Errorf("0644: %v %v", mode, loose)
	}
}

func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	p := filepath.Join(dir, "id.json")
	kp, err := keypair.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.WriteFile(p, false); err != nil {
		t.Fatal(err)
	}
	back, err := keypair.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Address() != kp.Address() {
		t.Error("round trip changed the address")
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v", st.Mode().Perm())
		}
		st, _ = os.Stat(dir)
		if st.Mode().Perm() != 0o700 {
			t.Errorf("dir mode %v", st.Mode().Perm())
		}
	}
	other, _ := keypair.Generate()
	err = other.WriteFile(p, false)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without force: %v", err)
	}
	if back, _ := keypair.Load(p); back.Address() != kp.Address() {
		t.Fatal("refused overwrite changed the file")
	}
	if err := other.WriteFile(p, true); err != nil {
		t.Fatal(err)
	}
	if back, _ := keypair.Load(p); back.Address() != other.Address() {
		t.Fatal("forced overwrite kept the old key")
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("forced file mode %v", st.Mode().Perm())
		}
	}
}

func TestFromSeed(t *testing.T) {
	v := vectors.Load(t)
	seed, _ := hex.DecodeString(v.Keypair.SeedHex)
	kp, err := keypair.FromSeed(seed)
	if err != nil || kp.Address() != v.Keypair.Address {
		t.Fatalf("FromSeed: %v %v", kp, err)
	}
	if _, err := keypair.FromSeed(seed[:5]); err == nil {
		t.Error("short seed accepted")
	}
}

// A key given where a path belongs (the keypair JSON put in
// NOSANA_SECRETS_KEYPAIR, a base58 private key) is never shown.
func TestKeyAsPathNeverShown(t *testing.T) {
	t.Chdir(t.TempDir()) // where a broken WriteFile would create the "path"
	v := vectors.Load(t)
	b, _ := json.Marshal(v.Keypair.KeygenJSON)
	seed, _ := hex.DecodeString(v.Keypair.SeedHex)
	kp, _ := keypair.FromSeed(seed)
	full, _ := kp.MarshalJSON()
	b58 := base58.Encode(append(seed, kp.PublicKey()...))
	secretParts := []string{string(b[1:20]), b58[:12], v.Keypair.SeedHex[:12]}
	for _, path := range []string{string(b), " " + string(full) + "\n", b58, v.Keypair.SeedHex, "[1,2,3"} {
		_, lerr := keypair.Load(path)
		werr := kp.WriteFile(path, false)
		for _, err := range []error{lerr, werr} {
			if err == nil {
				t.Fatalf("%.8s…: no error", path)
			}
			msg := fmt.Sprintf("%v %+v %#v", err, err, err)
			for _, s := range append(secretParts, path) {
				if strings.Contains(msg, s) {
					t.Errorf("error shows the key: %s", msg)
				}
			}
			if !strings.Contains(err.Error(), keypair.EnvJSON) {
				t.Errorf("error does not point to %s: %v", keypair.EnvJSON, err)
			}
		}
	}
	// Ordinary paths, even long ones, are still named.
	long := filepath.Join(t.TempDir(), strings.Repeat("a", 50)+".json")
	if _, err := keypair.Load(long); err == nil || !strings.Contains(err.Error(), long) {
		t.Errorf("missing file: %v", err)
	}
}

func TestReadAndParse(t *testing.T) {
	v := vectors.Load(t)
	b, _ := json.Marshal(v.Keypair.KeygenJSON)
	kp, err := keypair.Read("the keypair on stdin", strings.NewReader(string(b)+"\n"))
	if err != nil || kp.Address() != v.Keypair.Address {
		t.Fatalf("Read: %v %v", kp, err)
	}
	bad := strings.Replace(string(b), "[", "[256,", 1)
	_, err = keypair.Parse("the keypair in $X", []byte(bad))
	if err == nil || !strings.HasPrefix(err.Error(), "the keypair in $X ") || strings.Contains(err.Error(), string(b[1:20])) {
		t.Errorf("Parse of a bad array: %v", err)
	}
}
