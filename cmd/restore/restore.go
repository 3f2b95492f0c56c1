// Package restore is `nosana-secrets restore FILE`: load a backup into the
// store.
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// RestoreOptions are the parsed flags of restore.
type RestoreOptions struct {
	IO        *cmdutil.IOStreams
	OpenStore func(context.Context) (*cmdutil.Store, error)
	Context   context.Context
	File      string // "-": stdin
	Merge     bool
	DryRun    bool
}

// NewCmdRestore builds the restore command; runF replaces the work in tests.
func NewCmdRestore(f *cmdutil.StoreFactory, runF func(*RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{IO: f.IOStreams}
	c := &cobra.Command{
		Use:   "restore FILE",
		Short: "Load a backup (FILE, or - for stdin) into the store",
		Long: "Load a file written by backup into the configured store (STORAGE_CONNECTION and\n" +
			"MASTER_KEY as for serve). Before writing anything it checks the file whole\n" +
			"(format, count, checksum) and that the configured master keys open every value.\n\n" +
			"A store that already holds secrets is refused unless --merge: then the file's\n" +
			"secrets replace those of the same owner and name, and the others stay.\n" +
			"To move to another backend: backup, then restore with the new STORAGE_CONNECTION.",
		Example: "  nosana-secrets restore secrets.backup\n" +
			"  gunzip -c secrets.backup.gz | STORAGE_CONNECTION=postgres://… nosana-secrets restore -",
		Args: cmdutil.OneArg("FILE (- for stdin)"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.Context = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return restoreRun(opts)
		},
	}
	opts.OpenStore = f.Bind(c)
	c.Flags().BoolVar(&opts.Merge, "merge", false, "restore into a store that already has secrets")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check the file and the keys, write nothing")
	c.Flags().Bool("create", false, "create the target store if it does not exist yet (for sqlite, with the key file or MASTER_KEY you give: a restore never invents a key)")
	return c
}

// batch is how many secrets of one owner go in one write.
const batch = 1000

func restoreRun(opts *RestoreOptions) error {
	ctx, stop := signal.NotifyContext(opts.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	file, err := openFile(opts)
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	lower := st.Plain.Lower()
	admin, hist := lower.(storage.HistoryAdmin)
	hist = hist && storage.KeepsHistory(lower)

	// First pass: the file is whole, every value opens, every owner's
	// audit log verifies.
	var broken int64
	var logOwner string
	var logEvents []audit.Event
	verifyLog := func() error {
		if len(logEvents) == 0 {
			return nil
		}
		if _, err := audit.Verify(logEvents); err != nil {
			return fmt.Errorf("%w: the audit log of %s does not verify: %v", migrate.ErrSnapshot, logOwner, err)
		}
		logEvents = logEvents[:0]
		return nil
	}
	h, err := migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Owner == seal.SystemOwner || storage.CheckName("owner", r.Owner) != nil ||
			r.Kind != migrate.KindAudit && storage.CheckName("name", r.Name) != nil {
			return fmt.Errorf("%w: it holds a secret no server writes (owner %q)", migrate.ErrSnapshot, r.Owner)
		}
		switch r.Kind {
		case migrate.KindSecret:
			if !st.Plain.Opens(r.Owner, r.Name, r.Value) {
				broken++
			}
		case migrate.KindVersion:
			if !r.Deleted && !st.Plain.Opens(r.Owner, r.Name, r.Value) {
				broken++
			}
		case migrate.KindAudit:
			if r.Owner != logOwner {
				if err := verifyLog(); err != nil {
					return err
				}
				logOwner = r.Owner
			}
			logEvents = append(logEvents, *r.Event)
		}
		return ctx.Err()
	})
	if err == nil {
		err = verifyLog()
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", opts.File, err)
	}
	if missing := missingKeys(h.KeyIDs, st.Plain.KeyIDs()); len(missing) > 0 || broken > 0 {
		return fmt.Errorf("restore: %d of %d values do not open with the configured master keys (%s); the file needs key id %s. Nothing was written",
			broken, h.Secrets+h.Versions, strings.Join(st.Plain.KeyIDs(), ", "), strings.Join(h.KeyIDs, ", "))
	}
	if !opts.Merge {
		if n, err := countSecrets(ctx, lower, admin, hist); err != nil {
			return fmt.Errorf("restore: read the store: %w", err)
		} else if n > 0 {
			return cmdutil.WithCode(cmdutil.ExitFailure, errors.New("restore: the store already holds secrets; restore into an empty one, or add --merge to replace same-named secrets and keep the rest"))
		}
	}
	if opts.DryRun {
		fmt.Fprintf(opts.IO.Out, "dry run: %d secrets, %d versions and %d audit events of %d owners would be restored; the file is whole and the keys open it\n",
			h.Secrets, h.Versions, h.Events, h.Owners)
		return nil
	}
	w := &writer{ctx: ctx, opts: opts, lower: lower, admin: admin, imported: map[string]bool{}}
	if hist && h.Versions > 0 {
		if err := w.versions(file); err != nil {
			return fmt.Errorf("restore stopped after the versions of %d keys (each key's whole; run it again with --merge to finish): %w", w.keys, err)
		}
	}
	if err := w.secrets(file, h); err != nil {
		return err
	}
	if hist && h.Events > 0 {
		if err := w.audit(file); err != nil {
			return fmt.Errorf("restore stopped after the audit logs of %d owners (run it again with --merge to finish): %w", w.logs, err)
		}
	}
	fmt.Fprintf(opts.IO.Out, "restored %d keys, %d versions and %d audit events of %d owners (backup of %s)\n",
		w.written+int64(w.keys), w.versionsWritten, w.events, h.Owners, h.Created.Format("2006-01-02 15:04:05 UTC"))
	if w.heldKeys > 0 || w.heldLogs > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "restore: %d keys and %d audit logs the store held already kept their own history; "+
			"those keys got the file's value as their newest\n", w.heldKeys, w.heldLogs)
	}
	if !hist && (h.Versions > 0 || h.Events > 0) {
		fmt.Fprintf(opts.IO.ErrOut, "restore: this backend keeps no history: the file's %d older versions and %d audit events were left out (every current value was restored)\n",
			h.Versions, h.Events)
	}
	return nil
}

// writer is the second pass of a restore: each kind of line read again
// from the verified file and written, one owner at a time.
type writer struct {
	ctx   context.Context
	opts  *RestoreOptions
	lower storage.Store
	admin storage.HistoryAdmin
	// imported are the owner NUL name whose versions were imported: their
	// secret lines are the newest version, written already.
	imported              map[string]bool
	written               int64 // secrets written by Put
	keys, versionsWritten int   // keys and versions imported
	logs, events          int   // audit logs and events imported
	heldKeys, heldLogs    int   // left as the store had them (--merge)
}

func rewind(f *os.File) error {
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// versions imports the file's version lines, a few hundred at a time and
// never splitting a key, of keys the store does not hold.
func (w *writer) versions(file *os.File) error {
	if err := rewind(file); err != nil {
		return err
	}
	var owner string
	var pending []storage.Version
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		keep := pending[:0]
		if w.opts.Merge {
			for i := 0; i < len(pending); {
				j := i
				for j < len(pending) && pending[j].Name == pending[i].Name {
					j++
				}
				_, err := w.lower.(storage.History).Versions(w.ctx, owner, pending[i].Name)
				switch {
				case errors.Is(err, storage.ErrNotFound):
					keep = append(keep, pending[i:j]...)
				case err != nil:
					return err
				default:
					w.heldKeys++
				}
				i = j
			}
		} else {
			keep = pending
		}
		if len(keep) > 0 {
			if err := w.admin.ImportVersions(w.ctx, owner, keep); err != nil {
				return err
			}
		}
		for i, v := range keep {
			if i == 0 || keep[i-1].Name != v.Name {
				w.imported[owner+"\x00"+v.Name] = true
				w.keys++
			}
		}
		w.versionsWritten += len(keep)
		pending = pending[:0]
		return nil
	}
	_, err := migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindVersion {
			return nil
		}
		newKey := len(pending) == 0 || pending[len(pending)-1].Name != r.Name
		if r.Owner != owner || newKey && len(pending) >= batch {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		pending = append(pending, r.AsVersion())
		return w.ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	return err
}

// secrets writes the file's secret lines that no version import wrote.
func (w *writer) secrets(file *os.File, h migrate.SnapshotHeader) error {
	if err := rewind(file); err != nil {
		return err
	}
	var owner string
	var items []storage.Item
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		if err := w.lower.Put(w.ctx, owner, items); err != nil {
			return err
		}
		w.written += int64(len(items))
		items = items[:0]
		return nil
	}
	_, err := migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindSecret || w.imported[r.Owner+"\x00"+r.Name] {
			return nil
		}
		if r.Owner != owner || len(items) >= batch {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		items = append(items, storage.Item{Name: r.Name, Value: r.Value})
		return w.ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("restore stopped after %d of %d secrets (each whole; run it again with --merge to finish): %w",
			w.written+int64(w.keys), h.Secrets, err)
	}
	return nil
}

// audit imports each owner's log into an empty one; a log the store has
// already keeps its own chain (a file's chain cannot join another).
func (w *writer) audit(file *os.File) error {
	if err := rewind(file); err != nil {
		return err
	}
	log := w.lower.(storage.AuditLog)
	var owner string
	var events []audit.Event
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		have, err := log.Audit(w.ctx, owner, storage.AuditQuery{Limit: 1})
		if err != nil {
			return err
		}
		if len(have.Events) > 0 {
			w.heldLogs++
		} else {
			if err := w.admin.ImportAudit(w.ctx, owner, events); err != nil {
				return err
			}
			w.logs++
			w.events += len(events)
		}
		events = events[:0]
		return nil
	}
	_, err := migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindAudit {
			return nil
		}
		if r.Owner != owner {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		events = append(events, *r.Event)
		return w.ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	return err
}

// openFile opens FILE, or spools stdin to a temporary file: restore reads
// it twice.
func openFile(opts *RestoreOptions) (*os.File, error) {
	if opts.File != "-" {
		f, err := os.Open(opts.File)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		return f, nil
	}
	f, err := os.CreateTemp("", "nosana-secrets-restore-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // gone when closed
	if _, err := io.Copy(f, opts.IO.In); err != nil {
		f.Close()
		return nil, fmt.Errorf("restore: read stdin: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func missingKeys(ids, have []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(have, id) {
			out = append(out, id)
		}
	}
	return out
}

var errFound = errors.New("found")

// countSecrets is 1 when the store holds any secret, or kept version,
// other than the server's own records, else 0; it stops at the first.
func countSecrets(ctx context.Context, s storage.Store, admin storage.HistoryAdmin, hist bool) (int, error) {
	err := s.Walk(ctx, func(owner string, _ storage.Secret) error {
		if owner == seal.SystemOwner {
			return nil
		}
		return errFound
	})
	if err == nil && hist {
		err = admin.WalkVersions(ctx, func(owner string, _ storage.Version) error {
			if owner == seal.SystemOwner {
				return nil
			}
			return errFound
		})
	}
	if errors.Is(err, errFound) {
		return 1, nil
	}
	return 0, err
}
