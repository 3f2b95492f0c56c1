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
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.Usagef("%s takes one FILE (- for stdin)", c.CommandPath())
			}
			return nil
		},
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

	// First pass: the file is whole and every value opens.
	var broken int64
	h, err := migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Owner == seal.SystemOwner || storage.CheckName("owner", r.Owner) != nil || storage.CheckName("name", r.Name) != nil {
			return fmt.Errorf("%w: it holds a secret no server writes (owner %q)", migrate.ErrSnapshot, r.Owner)
		}
		if !st.Plain.Opens(r.Owner, r.Name, r.Value) {
			broken++
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", opts.File, err)
	}
	if missing := missingKeys(h.KeyIDs, st.Plain.KeyIDs()); len(missing) > 0 || broken > 0 {
		return fmt.Errorf("restore: %d of %d values do not open with the configured master keys (%s); the file needs key id %s. Nothing was written",
			broken, h.Secrets, strings.Join(st.Plain.KeyIDs(), ", "), strings.Join(h.KeyIDs, ", "))
	}
	if !opts.Merge {
		if n, err := countSecrets(ctx, st.Plain.Lower()); err != nil {
			return fmt.Errorf("restore: read the store: %w", err)
		} else if n > 0 {
			return cmdutil.WithCode(cmdutil.ExitFailure, errors.New("restore: the store already holds secrets; restore into an empty one, or add --merge to replace same-named secrets and keep the rest"))
		}
	}
	if opts.DryRun {
		fmt.Fprintf(opts.IO.Out, "dry run: %d secrets of %d owners would be restored; the file is whole and the keys open it\n", h.Secrets, h.Owners)
		return nil
	}

	// Second pass: write, one owner's batch at a time.
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var owner string
	var items []storage.Item
	var written int64
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		if err := st.Plain.Lower().Put(ctx, owner, items); err != nil {
			return err
		}
		written += int64(len(items))
		items = items[:0]
		return nil
	}
	_, err = migrate.ReadSnapshot(file, func(r migrate.SnapshotRecord) error {
		if r.Owner != owner || len(items) >= batch {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		items = append(items, storage.Item{Name: r.Name, Value: r.Value})
		return ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("restore stopped after %d of %d secrets (each whole; run it again with --merge to finish): %w", written, h.Secrets, err)
	}
	fmt.Fprintf(opts.IO.Out, "restored %d secrets of %d owners (backup of %s)\n", written, h.Owners, h.Created.Format("2006-01-02 15:04:05 UTC"))
	return nil
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

// countSecrets is 1 when the store holds any secret other than the
// server's own records, else 0; it stops at the first.
func countSecrets(ctx context.Context, s storage.Store) (int, error) {
	err := s.Walk(ctx, func(owner string, _ storage.Secret) error {
		if owner == seal.SystemOwner {
			return nil
		}
		return errFound
	})
	if errors.Is(err, errFound) {
		return 1, nil
	}
	return 0, err
}
