package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// JobDefinition is a job-definition template (issue 22): a Nosana job
// definition whose strings may refer to the owner's secrets as
// %%secrets.KEY%%, and the placeholder to post on chain for it.
type JobDefinition struct {
	Name        string          `json:"name" yaml:"name"`
	Version     int64           `json:"version" yaml:"version"`
	Definition  json.RawMessage `json:"definition,omitempty" yaml:"-"`
	Secrets     []string        `json:"secrets" yaml:"secrets"` // the keys it refers to
	Placeholder json.RawMessage `json:"placeholder,omitempty" yaml:"-"`
	UpdatedAt   time.Time       `json:"updated_at,omitzero" yaml:"updated_at,omitempty"`
}

func jobDefinitionPath(name string) string { return "/v1/job-definitions/" + url.PathEscape(name) }

// PutJobDefinition stores def as the next version of the template name and
// returns the version, the keys it refers to and the placeholder. A
// definition today's node would refuse is an error with ErrorCode
// "invalid_job_definition".
func (c *Client) PutJobDefinition(ctx context.Context, name string, def json.RawMessage) (*JobDefinition, error) {
	return v1Call[JobDefinition](ctx, c, http.MethodPut, jobDefinitionPath(name), def)
}

// JobDefinition returns the template name (never secret values).
func (c *Client) JobDefinition(ctx context.Context, name string) (*JobDefinition, error) {
	return v1Call[JobDefinition](ctx, c, http.MethodGet, jobDefinitionPath(name), nil)
}

// JobDefinitions lists the templates: names, versions and referenced keys.
func (c *Client) JobDefinitions(ctx context.Context) ([]JobDefinition, error) {
	return v1Items[JobDefinition](ctx, c, "/v1/job-definitions")
}

// DeleteJobDefinition deletes the template name.
func (c *Client) DeleteJobDefinition(ctx context.Context, name string) error {
	return c.v1(ctx, http.MethodDelete, jobDefinitionPath(name), nil, nil)
}

// JobResultsKey is the secret a job's node posts its result to.
func JobResultsKey(job string) string { return "jobs/" + job + "/results" }
