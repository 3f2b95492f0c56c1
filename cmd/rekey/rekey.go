// Package rekey is `nosana-secrets rekey`: reseal every value and kept
// version with the newest master key.
package rekey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
)

// Options are the parsed flags of rekey.
type Options struct {
	cmdutil.StoreOptions
	DryRun bool
}

// NewCmdRekey builds the command; runF replaces the work in tests.
func NewCmdRekey(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "rekey",
		Short: "Reseal every stored value and kept version with the newest master key",
		Long: "Reseal every stored value, and every kept version of it, with the newest master key.\n\n" +
			"To rotate: put the new key first and the old one after it in MASTER_KEY or\n" +
			"MASTER_KEY_FILE, restart the servers (they read both, write with the new one),\n" +
			"run rekey, then drop the old key. Safe while servers run on a network store:\n" +
			"a value written meanwhile is left as the server wrote it. An sqlite file\n" +
			"serves one process, so stop its server first.",
		Args: cmdutil.NoArgs,
	}, opts, runF, cmdutil.Interruptible(Run), nil)
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "count what would be resealed, change nothing")
	opts.StoreOptions = f.StoreOptions(c)
	return c
}

// Run reseals; the command cancels ctx on SIGINT or SIGTERM
// (cmdutil.Interruptible), and it stops cleanly.
func Run(ctx context.Context, opts *Options) error {
	ios, dryRun := opts.IO, opts.DryRun
	st, err := opts.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	store := st.Plain

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
	if dryRun {
		return nil
	}
	if len(todo) == 0 && len(oldVersions) == 0 {
		// Nothing to reseal, perhaps a rerun: the audit logs may still
		// wait for the vouch of the retired keys.
		return vouchRetired(ctx, store, ios)
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
	progress := func(what string, n int) *cmdutil.Progress {
		return cmdutil.NewProgress(ios, "resealing", what, int64(n), time.Second)
	}
	bar := progress("versions", len(oldVersions))
	for i, t := range oldVersions {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := store.ResealVersion(ctx, t)
		if err := count(fmt.Sprintf("version %d of %q of %s", t.Version, t.Name, t.Owner), ok, err); err != nil {
			return err
		}
		bar.Update(int64(i+1), nil)
	}
	bar.Done()
	if len(oldVersions) > 0 {
		if _, todo, err = store.FindStale(ctx); err != nil {
			return fmt.Errorf("read the store: %w", err)
		}
	}
	bar = progress("values", len(todo))
	for i, t := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := store.Reseal(ctx, t)
		if err := count(fmt.Sprintf("%q of %s", t.Name, t.Owner), ok, err); err != nil {
			return err
		}
		bar.Update(int64(i+1), nil)
	}
	bar.Done()
	if err := vouchRetired(ctx, store, ios); err != nil {
		return err
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

// vouchRetired appends to every owner's audit log a Rekey event naming the
// audit signing keys of the older master keys (seal.AuditSigner of each),
// appended through the seal layer and so signed with the new key: once
// the old master key is dropped, the signatures it made (a retention trim
// at the start of a log) still verify through it (audit.VerifySigned).
// A log that holds such an event already is left alone, so a rerun adds
// nothing.
func vouchRetired(ctx context.Context, store *seal.Store, ios *cmdutil.IOStreams) error {
	keys := store.AuditKeys()
	if len(keys) < 2 {
		return nil
	}
	retired := make([]string, 0, len(keys)-1)
	for _, k := range keys[1:] {
		retired = append(retired, k.String())
	}
	vouched := map[string]bool{}
	var owners []string
	err := store.WalkAudit(ctx, func(owner string, e audit.Event) error {
		if _, seen := vouched[owner]; !seen {
			vouched[owner] = false
			owners = append(owners, owner)
		}
		if e.Action == audit.Rekey && !slices.ContainsFunc(retired, func(k string) bool { return !slices.Contains(e.Vouch, k) }) {
			vouched[owner] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the audit logs: %w", err)
	}
	n := 0
	for _, owner := range owners {
		if vouched[owner] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ev := audit.Event{Time: time.Now(), Action: audit.Rekey, Keys: []string{}, Vouch: retired}
		if err := store.AppendAudit(ctx, owner, []audit.Event{ev}); err != nil {
			return fmt.Errorf("vouch for the retired signing keys in the audit log of %s: %w", owner, err)
		}
		n++
	}
	fmt.Fprintf(ios.ErrOut, "%d audit logs now vouch for the retired signing keys (%d already did), signed with key %s\n",
		n, len(owners)-n, keys[0].ID)
	return nil
}
