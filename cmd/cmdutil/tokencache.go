package cmdutil

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nosana-ci/nosana-secrets/client"
)

// TokenCache keeps one token per endpoint, address and job in
// Dir/tokens/<hash>.json (file 0600, directories 0700), so that commands
// run one after another sign in once an hour instead of every time.
type TokenCache struct {
	Dir string
	Now func() time.Time
}

type cachedToken struct {
	Endpoint string `json:"endpoint"`
	Address  string `json:"address"`
	Job      string `json:"job,omitempty"`
	Token    string `json:"token"`
}

func (c *TokenCache) path(endpoint, address, job string) string {
	h := sha256.Sum256([]byte(endpoint + "\x00" + address + "\x00" + job))
	return filepath.Join(c.Dir, "tokens", hex.EncodeToString(h[:16])+".json")
}

// Load returns the cached token of endpoint, address and job, or nil.
func (c *TokenCache) Load(endpoint, address, job string) *client.Token {
	b, err := os.ReadFile(c.path(endpoint, address, job))
	if err != nil {
		return nil
	}
	var ct cachedToken
	if json.Unmarshal(b, &ct) != nil || ct.Endpoint != endpoint || ct.Address != address || ct.Job != job {
		return nil
	}
	tok, err := client.ParseToken(ct.Token)
	if err != nil || tok.Address != address {
		return nil
	}
	return tok
}

// Save stores tok atomically with mode 0600.
func (c *TokenCache) Save(endpoint, address, job string, tok *client.Token) error {
	p := c.path(endpoint, address, job)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Directories made by an older version or by hand are tightened too.
	_ = os.Chmod(c.Dir, 0o700)
	_ = os.Chmod(dir, 0o700)
	b, err := json.Marshal(cachedToken{Endpoint: endpoint, Address: address, Job: job, Token: tok.Raw})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_ = tmp.Chmod(0o600)
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("rename into %s: %w", dir, err)
	}
	return nil
}

// Remove forgets the token of endpoint, address and job.
func (c *TokenCache) Remove(endpoint, address, job string) {
	_ = os.Remove(c.path(endpoint, address, job))
}
