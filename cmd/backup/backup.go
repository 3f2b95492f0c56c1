// Package backup is `nosana-secrets backup FILE`: a snapshot of the store,
// values as stored (sealed).
package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// BackupOptions are the parsed arguments of backup.
type BackupOptions struct {
	cmdutil.StoreOptions
	File string // "-": stdout
}

// NewCmdBackup builds the backup command; runF replaces the work in tests.
func NewCmdBackup(f *cmdutil.Factory, runF func(*BackupOptions) error) *cobra.Command {
	opts := &BackupOptions{}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "backup FILE",
		Short: "Write a snapshot of the store to FILE (- for stdout)",
		Long: "Write every owner and secret of the configured store (STORAGE_CONNECTION and\n" +
			"MASTER_KEY as for serve) to FILE, or to stdout with -, with every kept version\n" +
			"and audit event where the backend keeps history. Values stay sealed, as\n" +
			"stored, so the file is as safe at rest as the database, and restoring it needs\n" +
			"the master key(s) named in its header. The file ends with an HMAC-SHA-256 of\n" +
			"its content under a key derived from the active master key, which restore\n" +
			"verifies before writing anything: an edited file is refused.\n\n" +
			"Safe while servers run on a network store. An sqlite file serves one process:\n" +
			"stop its server, run backup, start the server again.",
		Example: "  nosana-secrets backup secrets-$(date +%F).backup\n" +
			"  nosana-secrets backup - | gzip > secrets.backup.gz",
		Args: cmdutil.OneArg("FILE (- for stdout)"),
	}, opts, runF, cmdutil.Interruptible(backupRun), func(args []string) error {
		opts.File = args[0]
		return nil
	})
	opts.StoreOptions = f.StoreOptions(c)
	return c
}

// backupRun writes the snapshot; the command cancels ctx on SIGINT or
// SIGTERM (cmdutil.Interruptible).
func backupRun(ctx context.Context, opts *BackupOptions) error {
	st, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	var w io.Writer = opts.IO.Out
	var tmp *os.File
	if opts.File != "-" {
		// Written beside FILE and renamed at the end: FILE is whole or
		// untouched.
		tmp, err = os.CreateTemp(filepath.Dir(opts.File), "."+filepath.Base(opts.File)+".*")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	key, id, err := st.Plain.Derive("", migrate.MACPurpose, migrate.MACKeySize)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	prog := cmdutil.NewProgress(opts.IO, "backup", "records read", 0, cmdutil.DefaultProgressInterval)
	h, err := migrate.WriteSnapshot(ctx, w, counted(source(st), prog), migrate.SnapshotHeader{
		Created: time.Now().UTC().Truncate(time.Second),
		Backend: backendKind(st),
	}, migrate.MACKey{ID: id, Key: key}, seal.SystemOwner)
	prog.Done()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := os.Rename(tmp.Name(), opts.File); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	where := opts.File
	if where == "-" {
		where = "stdout"
	}
	needs := "no master key"
	if len(h.KeyIDs) > 0 {
		needs = "master key id " + strings.Join(h.KeyIDs, ", ")
	}
	fmt.Fprintf(opts.IO.ErrOut, "backup: %d secrets, %d versions and %d audit events of %d owners written to %s; restoring needs %s\n",
		h.Secrets, h.Versions, h.Events, h.Owners, where, needs)
	return nil
}

// source is what a backup of st reads: its secrets from one snapshot,
// then every kept version and audit event (read after the secrets: a
// write meanwhile may be in the versions only).
func source(st *cmdutil.Store) migrate.SnapshotSource {
	lower := st.Plain.Lower()
	return migrate.SnapshotSource{
		Secrets:  st.Snapshot,
		Versions: lower.WalkVersions,
		Audit: func(ctx context.Context, _ []string, fn func(string, audit.Event) error) error {
			return lower.WalkAudit(ctx, fn)
		},
	}
}

// counted reports every record src reads to prog.
func counted(src migrate.SnapshotSource, prog *cmdutil.Progress) migrate.SnapshotSource {
	var n int64
	tick := func() { n++; prog.Update(n, nil) }
	secrets := src.Secrets
	src.Secrets = func(ctx context.Context, fn func(string, storage.Secret) error) error {
		return secrets(ctx, func(owner string, s storage.Secret) error { tick(); return fn(owner, s) })
	}
	if versions := src.Versions; versions != nil {
		src.Versions = func(ctx context.Context, fn func(string, storage.Version) error) error {
			return versions(ctx, func(owner string, v storage.Version) error { tick(); return fn(owner, v) })
		}
	}
	if events := src.Audit; events != nil {
		src.Audit = func(ctx context.Context, owners []string, fn func(string, audit.Event) error) error {
			return events(ctx, owners, func(owner string, e audit.Event) error { tick(); return fn(owner, e) })
		}
	}
	return src
}

func backendKind(st *cmdutil.Store) string {
	if st.URI == "" {
		return ""
	}
	kind, _ := backends.Check(st.URI)
	return kind
}
