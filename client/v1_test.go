package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// TestV1Methods drives the v1 methods against the real server (over
// memory storage): versions, check-and-set, delete and restore, listings
// and an audit log that verifies.
func TestV1Methods(t *testing.T) {
	kp, addr := testKey(t)
	srv := clienttest.NewServer(t)
	c := newClient(t, client.Config{Endpoint: srv.URL, Signer: kp})
	ctx := context.Background()

	w, err := c.Whoami(ctx)
	if err != nil || w.Address != addr || w.Scope != "owner" || w.Namespace != addr || w.ExpiresAt.IsZero() {
		t.Fatalf("Whoami = %+v, %v", w, err)
	}
	if v, err := c.Put(ctx, "db/pass", json.RawMessage(`"one"`), 0); err != nil || v != 1 {
		t.Fatalf("Put cas 0 = %d, %v", v, err)
	}
	_, err = c.Put(ctx, "db/pass", json.RawMessage(`"x"`), 0)
	var ce *client.ConflictError
	if !errors.As(err, &ce) || ce.Current != 1 || client.ErrorCode(err) != "version_conflict" {
		t.Fatalf("a second cas 0: %v", err)
	}
	if v, err := c.Put(ctx, "db/pass", json.RawMessage(`{"two":2}`), 1); err != nil || v != 2 {
		t.Fatalf("Put cas 1 = %d, %v", v, err)
	}
	if s, err := c.GetVersion(ctx, "db/pass", 1); err != nil || string(s.Value) != `"one"` || s.Version != 1 {
		t.Fatalf("GetVersion 1 = %+v, %v", s, err)
	}
	if v, err := c.SoftDelete(ctx, "db/pass"); err != nil || v != 3 {
		t.Fatalf("SoftDelete = %d, %v", v, err)
	}
	if _, err := c.GetVersion(ctx, "db/pass", 0); !client.IsDeleted(err) {
		t.Fatalf("a deleted key: %v", err)
	}
	if _, err := c.Get(ctx, "db/pass"); !client.IsNotFound(err) || client.IsDeleted(nil) {
		t.Fatalf("legacy Get of a deleted key: %v", err)
	}
	vs, err := c.Versions(ctx, "db/pass")
	if err != nil || len(vs) != 3 || vs[0].DeletedAt == nil || vs[0].By.Address != addr {
		t.Fatalf("Versions = %+v, %v", vs, err)
	}
	if v, err := c.Restore(ctx, "db/pass", 2); err != nil || v != 4 {
		t.Fatalf("Restore = %d, %v", v, err)
	}
	if raw, err := c.Get(ctx, "db/pass"); err != nil || string(raw) != `{"two":2}` {
		t.Fatalf("after restore: %s, %v", raw, err)
	}
	keys, err := c.ListKeys(ctx, "db/")
	if err != nil || len(keys) != 1 || keys[0].Key != "db/pass" || keys[0].Version != 4 || keys[0].Size != len(`{"two":2}`) {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	if err := c.Destroy(ctx, "db/pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Versions(ctx, "db/pass"); !client.IsNotFound(err) || client.IsDeleted(err) {
		t.Fatalf("Versions after Destroy: %v", err)
	}

	log, err := c.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := audit.Verify(log)
	if err != nil || head.Seq == 0 || len(log) < 7 {
		t.Fatalf("audit log of %d events: head %+v, %v", len(log), head, err)
	}
	page, err := c.Audit(ctx, client.AuditQuery{Limit: 2})
	if err != nil || len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].Seq != head.Seq {
		t.Fatalf("Audit page: %+v, %v", page, err)
	}
}
