// Package vectors loads testdata/vectors.json, the known-answer values for
// keys, signatures, tokens, discriminators and CIDs shared by the tests.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Vectors mirrors testdata/vectors.json.
type Vectors struct {
	Keypair struct {
		SeedHex      string `json:"seed_hex"`
		KeygenJSON   []int  `json:"solana_keygen_json"`
		Address      string `json:"address"`
		PublicKeyHex string `json:"public_key_hex"`
	} `json:"keypair"`
	LegacyLogin struct {
		Timestamp       int64  `json:"timestamp"`
		MessageUTF8     string `json:"message_utf8"`
		MessageHex      string `json:"message_hex"`
		SignatureBase58 string `json:"signature_base58"`
	} `json:"legacy_login"`
	JWT struct {
		Secret string `json:"secret"`
		Claims struct {
			Address string `json:"address"`
			Iat     int64  `json:"iat"`
			Exp     int64  `json:"exp"`
		} `json:"claims"`
		Token string `json:"token"`
	} `json:"jwt"`
	Discriminators map[string]struct {
		Hex    string `json:"hex"`
		Base58 string `json:"base58"`
	} `json:"discriminators"`
	IPFSCID []struct {
		OnchainHex string `json:"onchain_hex"`
		CID        string `json:"cid"`
	} `json:"ipfs_cid"`
	JobJSONExamples map[string]json.RawMessage `json:"job_json_examples"`
	IPFSFileCIDs    struct {
		Files []struct {
			Content string `json:"content_utf8"`
			CID     string `json:"cid"`
		} `json:"files"`
	} `json:"ipfs_file_cids"`
}

// Path is the absolute path of testdata/vectors.json.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vectors.json")
}

// Load reads the vectors or fails the test.
func Load(t testing.TB) *Vectors {
	t.Helper()
	b, err := os.ReadFile(Path())
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	return &v
}
