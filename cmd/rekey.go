package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/serve"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
)

func newRekeyCmd(ios *cmdutil.IOStreams) *cobra.Command {
	v := viper.New()
	var dryRun bool
	c := &cobra.Command{
		Use:   "rekey",
		Short: "Reseal every stored value and kept version with the newest master key",
		Long: "Reseal every stored value, and every kept version of it, with the newest master key.\n\n" +
			"To rotate: put the new key first and the old one after it in MASTER_KEY or\n" +
			"MASTER_KEY_FILE, restart the servers (they read both, write with the new one),\n" +
			"run rekey, then drop the old key. Safe while servers run on a network store:\n" +
			"a value written meanwhile is left as the server wrote it. An sqlite file\n" +
			"serves one process, so stop its server first.",
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := serve.Decode(v, true)
			if err != nil {
				return err
			}
			if err := cfg.Store.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runRekey(ctx, cfg.Store, ios, dryRun)
		},
	}
	serve.Bind(v, c.Flags(), true)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be resealed, change nothing")
	return c
}

func runRekey(ctx context.Context, cfg serve.StoreConfig, ios *cmdutil.IOStreams, dryRun bool) error {
	log, closeLog := cfg.Logger(ios.ErrOut)
	defer closeLog()
	store, err := serve.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()

	// Kept versions first (the newest takes the current value with it),
	// then current values and the key check, found again afterwards: the
	// check is resealed last, so an interrupted rekey leaves the old key
	// needed, and the record of BeginRekey the new one.
	nVersions, oldVersions, err := store.FindStaleVersions(ctx)
	if err != nil {
		return fmt.Errorf("read the store's versions: %w", err)
	}
	seen, todo, err := store.FindStale(ctx)
	if err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	fmt.Fprintf(ios.ErrOut, "%d values and %d kept versions, %d and %d sealed with an older key (newest key id %s)\n",
		seen, nVersions, len(todo), len(oldVersions), store.ActiveKeyID())
	if dryRun || len(todo) == 0 && len(oldVersions) == 0 {
		return nil
	}
	// Until EndRekey, a server without the new key refuses to start.
	if err := store.BeginRekey(ctx); err != nil {
		return err
	}
	var resealed, changed, broken int
	count := func(what string, ok bool, err error) error {
		switch {
		case errors.Is(err, seal.ErrOpen):
			broken++
			fmt.Fprintf(ios.ErrOut, "cannot open %s: sealed with a key not configured, or altered\n", what)
		case err != nil:
			return fmt.Errorf("reseal %s: %w", what, err)
		case ok:
			resealed++
		default:
			changed++
		}
		return nil
	}
	last := time.Now()
	progress := func(i, n int, what string) {
		if time.Since(last) > time.Second || i == n-1 {
			fmt.Fprintf(ios.ErrOut, "resealed %d of %d %s\n", i+1, n, what)
			last = time.Now()
		}
	}
	for i, t := range oldVersions {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := store.ResealVersion(ctx, t)
		if err := count(fmt.Sprintf("version %d of %q of %s", t.Version, t.Name, t.Owner), ok, err); err != nil {
			return err
		}
		progress(i, len(oldVersions), "versions")
	}
	if len(oldVersions) > 0 {
		if _, todo, err = store.FindStale(ctx); err != nil {
			return fmt.Errorf("read the store: %w", err)
		}
	}
	for i, t := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := store.Reseal(ctx, t)
		if err := count(fmt.Sprintf("%q of %s", t.Name, t.Owner), ok, err); err != nil {
			return err
		}
		progress(i, len(todo), "values")
	}
	if err := store.EndRekey(ctx); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "done: %d resealed, %d rewritten by a server meanwhile, %d could not be opened\n", resealed, changed, broken)
	if broken > 0 {
		return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("%d values could not be opened with the configured keys", broken))
	}
	return nil
}
