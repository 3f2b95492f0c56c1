package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// Whoami is who a token speaks for (GET /v1/whoami).
type Whoami struct {
	Address   string    `json:"address" yaml:"address"`     // the wallet that signed in
	Scope     string    `json:"scope" yaml:"scope"`         // "owner" or "job"
	Namespace string    `json:"namespace" yaml:"namespace"` // whose secrets it reads
	Job       string    `json:"job,omitempty" yaml:"job,omitempty"`
	Keys      []string  `json:"keys,omitempty" yaml:"keys,omitempty"` // a job token's grants
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
	// Usage and Quota, for an owner's token on a server that counts them:
	// what the owner keeps, and the limits (0: none).
	Usage *Amount `json:"usage,omitempty" yaml:"usage,omitempty"`
	Quota *Amount `json:"quota,omitempty" yaml:"quota,omitempty"`
}

// Amount is a number of keys and of (encrypted) bytes.
type Amount struct {
	Secrets int64 `json:"secrets" yaml:"secrets"`
	Bytes   int64 `json:"bytes" yaml:"bytes"`
	// AuditBytes is the owner's audit log (AUDIT_QUOTA).
	AuditBytes int64 `json:"audit_bytes" yaml:"audit_bytes"`
}

// Whoami asks the server who the client's token speaks for, signing in
// first when needed.
func (c *Client) Whoami(ctx context.Context) (*Whoami, error) {
	body, err := c.do(ctx, http.MethodGet, "/v1/whoami", nil)
	if err != nil {
		return nil, err
	}
	var w Whoami
	if err := json.Unmarshal(body, &w); err != nil || w.Address == "" {
		return nil, c.badAnswer(http.MethodGet, "/v1/whoami", "who the token speaks for")
	}
	return &w, nil
}

// ErrorCode is the machine-readable code of an error answer ("" when the
// answer had none, as from servers older than the codes).
func ErrorCode(err error) string {
	var he *HTTPError
	if !errors.As(err, &he) {
		return ""
	}
	var b struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(he.body, &b)
	return b.Code
}

// ConflictError is a check-and-set write the server refused: the key is
// at version Current (0: it does not exist), not the one given.
type ConflictError struct {
	Key     string
	Current int64
	Err     *HTTPError
}

func (e *ConflictError) Error() string {
	if e.Current == 0 {
		return fmt.Sprintf("%s does not exist (or is deleted): the check-and-set version does not match", e.Key)
	}
	return fmt.Sprintf("%s is at version %d: the check-and-set version does not match", e.Key, e.Current)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// IsDeleted reports whether err is a 404 for a key that was deleted (and
// can be restored), rather than one that never existed.
func IsDeleted(err error) bool { return IsNotFound(err) && ErrorCode(err) == errcode.SecretDeleted }

// SecretVersion is one version of a secret with its value.
type SecretVersion struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// GetVersion returns version of key (0: the current one). A deleted key is
// an error for which IsDeleted is true.
func (c *Client) GetVersion(ctx context.Context, key string, version int64) (*SecretVersion, error) {
	path := "/v1/secrets/" + escapeKey(key)
	if version > 0 {
		path += "?version=" + strconv.FormatInt(version, 10)
	}
	return v1Call[SecretVersion](ctx, c, http.MethodGet, path, nil)
}

// NoCAS is Put without a check-and-set.
const NoCAS = -1

// Put writes value as the next version of key. With cas >= 0 it is a
// check-and-set: 0 means the key must not exist, N that its current
// version is N; otherwise the error is a *ConflictError.
func (c *Client) Put(ctx context.Context, key string, value json.RawMessage, cas int64) (int64, error) {
	if !json.Valid(value) {
		return 0, fmt.Errorf("value of %s is not valid JSON", key)
	}
	body := map[string]any{"value": value}
	if cas >= 0 {
		body["cas"] = cas
	}
	var out struct{ Version int64 }
	err := c.v1(ctx, http.MethodPut, "/v1/secrets/"+escapeKey(key), body, &out)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusConflict {
		var b struct {
			Current int64 `json:"current_version"`
		}
		_ = json.Unmarshal(he.body, &b)
		return 0, &ConflictError{Key: key, Current: b.Current, Err: he}
	}
	return out.Version, err
}

// SoftDelete deletes key, keeping its history (Undelete or Restore bring
// it back), and returns the version that records the delete.
func (c *Client) SoftDelete(ctx context.Context, key string) (int64, error) {
	var out struct{ Version int64 }
	err := c.v1(ctx, http.MethodDelete, "/v1/secrets/"+escapeKey(key), nil, &out)
	return out.Version, err
}

// Destroy removes every version of key for good.
func (c *Client) Destroy(ctx context.Context, key string) error {
	return c.v1(ctx, http.MethodDelete, "/v1/secrets/"+escapeKey(key)+"?destroy=true", nil, nil)
}

// Writer is who wrote a version.
type Writer struct {
	Address string `json:"address" yaml:"address"`
	Job     string `json:"job,omitempty" yaml:"job,omitempty"`
}

// VersionInfo describes one kept version (no value).
type VersionInfo struct {
	Version   int64      `json:"version" yaml:"version"`
	CreatedAt time.Time  `json:"created_at" yaml:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty" yaml:"deleted_at,omitempty"`
	By        Writer     `json:"by" yaml:"by"`
}

// Versions lists the kept versions of key, newest first.
func (c *Client) Versions(ctx context.Context, key string) ([]VersionInfo, error) {
	var out struct{ Items []VersionInfo }
	err := c.v1(ctx, http.MethodGet, "/v1/secrets/"+escapeKey(key)+"/versions", nil, &out)
	return out.Items, err
}

// Restore writes the value of an old version of key as its next version
// (which also undeletes it) and returns the new version.
func (c *Client) Restore(ctx context.Context, key string, version int64) (int64, error) {
	var out struct{ Version int64 }
	err := c.v1(ctx, http.MethodPost, "/v1/secrets/"+escapeKey(key)+"/restore", map[string]int64{"version": version}, &out)
	return out.Version, err
}

// RestoreChange is what a point-in-time restore did to one key.
type RestoreChange struct {
	Key     string `json:"key" yaml:"key"`
	Action  string `json:"action" yaml:"action"` // "restored" or "deleted"
	Version int64  `json:"version" yaml:"version"`
}

// RestoreAsOf gives every key under prefix its value as of t, as new
// versions, and deletes the keys created after t.
func (c *Client) RestoreAsOf(ctx context.Context, t time.Time, prefix string) ([]RestoreChange, error) {
	var out struct{ Changes []RestoreChange }
	err := c.v1(ctx, http.MethodPost, "/v1/restore", map[string]any{"as_of": t.UTC(), "prefix": prefix}, &out)
	return out.Changes, err
}

// AuditQuery filters the audit log. Zero fields filter nothing.
type AuditQuery struct {
	Since, Until time.Time
	Key          string
	Action       audit.Action // "": every action
	Limit        int          // per page; 0: the server's default
	Cursor       string       // the NextCursor of the page before
}

// AuditPage is one page of events, newest first.
type AuditPage struct {
	Items      []audit.Event `json:"items"`
	NextCursor string        `json:"next_cursor"` // "" on the last page
}

// Audit returns one page of the caller's audit events, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Key != "" {
		v.Set("key", q.Key)
	}
	if q.Action != "" {
		v.Set("action", string(q.Action))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var page struct {
		Items      []audit.Event
		NextCursor *string `json:"next_cursor"`
	}
	if err := c.v1(ctx, http.MethodGet, "/v1/audit?"+v.Encode(), nil, &page); err != nil {
		return nil, err
	}
	out := &AuditPage{Items: page.Items}
	if page.NextCursor != nil {
		out.NextCursor = *page.NextCursor
	}
	return out, nil
}

// AuditLog returns the caller's whole audit log, oldest first, as
// audit.Verify takes it.
func (c *Client) AuditLog(ctx context.Context) ([]audit.Event, error) {
	var all []audit.Event
	q := AuditQuery{Limit: 1000}
	for {
		page, err := c.Audit(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			slices.Reverse(all)
			return all, nil
		}
		q.Cursor = page.NextCursor
	}
}

// AuditKeys returns the public keys that sign the server's audit logs
// (GET /v1/audit/key), the active key first, as audit.VerifySigned takes
// them. A server that predates signed logs answers 404 (*HTTPError).
func (c *Client) AuditKeys(ctx context.Context) ([]audit.PublicKey, error) {
	var body struct {
		Keys []audit.PublicKey `json:"keys"`
	}
	if err := c.v1(ctx, http.MethodGet, "/v1/audit/key", nil, &body); err != nil {
		return nil, err
	}
	out := make([]audit.PublicKey, 0, len(body.Keys))
	for _, k := range body.Keys {
		pk, err := audit.ParsePublicKey(k.String())
		if err != nil {
			return nil, c.badAnswer(http.MethodGet, "/v1/audit/key", "public keys (id and 32 bytes, hex)")
		}
		out = append(out, pk)
	}
	return out, nil
}

// v1Call sends a JSON request (body may be nil) and returns the answer
// decoded as a T.
func v1Call[T any](ctx context.Context, c *Client, method, path string, body any) (*T, error) {
	var out T
	if err := c.v1(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// v1Items gets path and returns the "items" of its answer.
func v1Items[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	out, err := v1Call[struct {
		Items []T `json:"items"`
	}](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// v1 sends a JSON request (body may be nil) and decodes the answer into out
// (nil: ignored).
func (c *Client) v1(ctx context.Context, method, path string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	ans, err := c.do(ctx, method, path, b)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(ans, out); err != nil {
			return c.badAnswer(method, path, "the JSON of the v1 API")
		}
	}
	return nil
}
