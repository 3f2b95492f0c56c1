package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Whoami is who a token speaks for (GET /v1/whoami).
type Whoami struct {
	Address   string    `json:"address" yaml:"address"`     // the wallet that signed in
	Scope     string    `json:"scope" yaml:"scope"`         // "owner" or "job"
	Namespace string    `json:"namespace" yaml:"namespace"` // whose secrets it reads
	Job       string    `json:"job,omitempty" yaml:"job,omitempty"`
	Keys      []string  `json:"keys,omitempty" yaml:"keys,omitempty"` // a job token's grants
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
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
