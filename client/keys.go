package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Key is one key of ListKeys, with its metadata and without its value.
type Key struct {
	Key       string    `json:"key" yaml:"key"`
	Version   int64     `json:"version" yaml:"version"`
	Size      int       `json:"size" yaml:"size"` // bytes of the stored JSON value
	CreatedAt time.Time `json:"created_at" yaml:"created_at"`
	UpdatedAt time.Time `json:"updated_at" yaml:"updated_at"`
}

// KeyInfo is the name the v1 methods use for Key.
type KeyInfo = Key

// keysPageSize is how many keys ListKeys asks for at a time.
const keysPageSize = 1000

// ListKeys returns the keys the caller may read that start with prefix,
// sorted, through GET /v1/secrets: page by page, without their values. A
// server that predates that route (it answers 404) is asked the legacy
// listing instead, values and all; its keys then carry only Key and Size.
func (c *Client) ListKeys(ctx context.Context, prefix string) ([]Key, error) {
	return c.listKeys(ctx, prefix, time.Time{})
}

// ListKeysAsOf is ListKeys of the namespace as it was at asOf (the
// server's history; a job token is refused).
func (c *Client) ListKeysAsOf(ctx context.Context, prefix string, asOf time.Time) ([]Key, error) {
	return c.listKeys(ctx, prefix, asOf)
}

func (c *Client) listKeys(ctx context.Context, prefix string, asOf time.Time) ([]Key, error) {
	keys := []Key{}
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(keysPageSize)}}
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if !asOf.IsZero() {
			q.Set("as_of", asOf.UTC().Format(time.RFC3339Nano))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := c.do(ctx, http.MethodGet, "/v1/secrets?"+q.Encode(), nil)
		if IsNotFound(err) && cursor == "" && asOf.IsZero() {
			return c.legacyKeys(ctx, prefix)
		}
		if err != nil {
			return nil, err
		}
		var page struct {
			Items      []Key   `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil || page.Items == nil {
			return nil, c.badAnswer(http.MethodGet, "/v1/secrets", "a JSON page of keys")
		}
		keys = append(keys, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Items) == 0 {
			return keys, nil
		}
		cursor = *page.NextCursor
	}
}

// legacyKeys is ListKeys through GET /secrets.
func (c *Client) legacyKeys(ctx context.Context, prefix string) ([]Key, error) {
	secrets, err := c.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(secrets))
	for k, v := range secrets {
		keys = append(keys, Key{Key: k, Size: len(v)})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
	return keys, nil
}

// KeyExists reports whether key holds a live secret, from its metadata:
// the first key of GET /v1/secrets?prefix=KEY&limit=1 (the key itself
// sorts before every longer name it prefixes), so no value is read or
// decrypted. A server that predates that route is asked GET /secrets/KEY.
func (c *Client) KeyExists(ctx context.Context, key string) (bool, error) {
	q := url.Values{"limit": {"1"}, "prefix": {key}}
	body, err := c.do(ctx, http.MethodGet, "/v1/secrets?"+q.Encode(), nil)
	if IsNotFound(err) {
		if _, err := c.Get(ctx, key); err != nil {
			if IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var page struct {
		Items []Key `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.Items == nil {
		return false, c.badAnswer(http.MethodGet, "/v1/secrets", "a JSON page of keys")
	}
	return len(page.Items) > 0 && page.Items[0].Key == key, nil
}
