// Package migrate is `nosana-secrets migrate`: import what the original
// server stored into this server's store.
package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// EnvFrom may hold --from, which keeps a password out of ps.
const EnvFrom = "MIGRATE_FROM"

// MigrateOptions are the parsed flags of migrate.
type MigrateOptions struct {
	cmdutil.StoreOptions

	From      string
	Overwrite bool
	DryRun    bool
	Output    string
	Batch     int
	// Interval is how often a line of progress is printed when stderr
	// is not a terminal.
	Interval time.Duration
}

// NewCmdMigrate builds the migrate command; runF replaces the work in tests.
func NewCmdMigrate(f *cmdutil.Factory, runF func(*MigrateOptions) error) *cobra.Command {
	opts := &MigrateOptions{Interval: cmdutil.DefaultProgressInterval}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "migrate --from URI",
		Short: "Import the secrets of an original Nosana secret manager",
		Long: "Import every secret an original Nosana secret manager (the keyv-based server) stored\n" +
			"at URI, its own STORAGE_CONNECTION, into this server's store (STORAGE_CONNECTION and\n" +
			"MASTER_KEY as for serve). The original's store is only read, so it may keep running.\n\n" +
			"Secrets the target already has are left alone and counted, unless --overwrite.\n" +
			"Records that cannot be imported are listed by owner and name and skipped; the exit\n" +
			"code is 0 only when none was. Running it again is safe, also after an interruption.",
		Example: "  STORAGE_CONNECTION=postgres://… MASTER_KEY=… nosana-secrets migrate --from sqlite:///old/db.sqlite\n" +
			"  MIGRATE_FROM='redis://:pass@old-host:6379/0' nosana-secrets migrate --dry-run -o json",
		Args: cmdutil.NoArgs,
	}, opts, runF, cmdutil.Interruptible(migrateRun), func([]string) error {
		if opts.From == "" {
			opts.From = strings.TrimSpace(os.Getenv(EnvFrom))
		}
		if opts.From == "" {
			return cmdutil.Usagef("--from is required: the original server's STORAGE_CONNECTION (or set %s)", EnvFrom)
		}
		if opts.Batch < 1 || opts.Batch > 10000 {
			return cmdutil.Usagef("--batch must be between 1 and 10000")
		}
		return nil
	})
	opts.StoreOptions = f.StoreOptions(c)
	fl := c.Flags()
	fl.StringVar(&opts.From, "from", "", "the original server's STORAGE_CONNECTION: sqlite://, postgres://, mysql://, redis://, mongodb:// (env "+EnvFrom+")")
	fl.BoolVar(&opts.Overwrite, "overwrite", false, "replace secrets the target already has")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "read and report, write nothing")
	fl.Bool("create", false, "create the target store (and, for sqlite, its key file) if it does not exist yet, as serve's first start would")
	fl.IntVar(&opts.Batch, "batch", 1000, "secrets per write")
	fl.DurationVar(&opts.Interval, "progress-interval", opts.Interval, "time between progress lines when stderr is not a terminal (0: after every batch)")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON)
	return c
}

// migrateRun imports; the command cancels ctx on SIGINT or SIGTERM
// (cmdutil.Interruptible).
func migrateRun(ctx context.Context, opts *MigrateOptions) error {
	src, err := migrate.Open(ctx, opts.From)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer dst.Close()

	total, _ := src.Count(ctx)
	prog := cmdutil.NewProgress(opts.IO, "reading", "records", total, opts.Interval)
	update := func(s migrate.Summary) {
		prog.Update(s.Read, func() string {
			of := ""
			if total > 0 {
				of = fmt.Sprintf(" of about %d", total)
			}
			return fmt.Sprintf("migrate: %d records read%s, %d imported, %d already there, %d refused",
				s.Read, of, s.Imported, s.Existing, s.Refused)
		})
	}
	sum, err := migrate.Run(ctx, src, target{dst.Plain}, migrate.Options{
		Overwrite:    opts.Overwrite,
		DryRun:       opts.DryRun,
		BatchRecords: opts.Batch,
		Progress:     update,
	})
	prog.Done()
	if werr := writeSummary(opts.IO.Out, opts.Output, sum); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("migrate stopped %w; what was written is whole, run it again to finish", err)
	}
	if sum.Refused > 0 {
		return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("%d records could not be imported (listed above); everything else was", sum.Refused))
	}
	return nil
}

// target is the configured store: existing names are read below the seal
// layer (nothing to open), values written through it.
type target struct{ store *seal.Store }

func (t target) Existing(ctx context.Context, owner string, names []string) (map[string]bool, error) {
	got, err := t.store.Lower().GetMany(ctx, owner, names)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	have := make(map[string]bool, len(got))
	for _, s := range got {
		have[s.Name] = true
	}
	return have, nil
}

func (t target) Put(ctx context.Context, owner string, items []storage.Item) error {
	return t.store.Put(ctx, owner, items)
}

func writeSummary(w io.Writer, format string, s migrate.Summary) error {
	if format == cmdutil.FormatJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(s)
	}
	var b strings.Builder
	line := func(label string, n int64) { fmt.Fprintf(&b, "%-28s %d\n", label+":", n) }
	line("records read", s.Read)
	line("owners", int64(s.Owners))
	if s.DryRun {
		line("secrets to import (dry run)", s.Imported)
	} else {
		line("secrets imported", s.Imported)
	}
	line("skipped, already there", s.Existing)
	if s.Expired > 0 {
		line("skipped, expired", s.Expired)
	}
	line("refused", s.Refused)
	for _, r := range s.Refusals {
		fmt.Fprintf(&b, "  %s %s: %s\n", r.Owner, shortName(r.Name), r.Reason)
	}
	if n := s.Refused - int64(len(s.Refusals)); n > 0 {
		fmt.Fprintf(&b, "  … and %d more (-o json lists the first %d)\n", n, migrate.MaxRefusals)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shortName quotes a name for a line of text, cutting a long one.
func shortName(n string) string {
	if len(n) > 64 {
		return fmt.Sprintf("%q…(%d bytes)", n[:60], len(n))
	}
	return fmt.Sprintf("%q", n)
}
