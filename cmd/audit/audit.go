// Package auditcmd is `nosana-secrets audit` and `audit verify`.
package auditcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// Options are the parsed flags of audit.
type Options struct {
	cmdutil.ClientOptions
	Now func() time.Time

	Key    string
	Action audit.Action
	Since  time.Time
	Limit  int
	Follow bool
	Every  time.Duration // how often --follow asks
	Output string
}

// NewCmdAudit builds `audit` with its `verify` subcommand; runF replaces
// the work of `audit` in tests.
func NewCmdAudit(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{ClientOptions: f.ClientOptions(), Now: time.Now, Every: 2 * time.Second}
	var since string
	c := cmdutil.Verb(&cobra.Command{
		Use:   "audit [--key K] [--since 1h] [--follow]",
		Short: "Show who read, wrote or was refused your secrets",
		Long: `Show your audit log, newest first: every sign-in, read, listing, write,
delete and restore in your namespace, and refusals, with who did it (a
node's address and job when a node read a secret for your job), from
which IP, and the answer. Values are never in the log.

--follow prints new events as they come (oldest first) until interrupted.
The log is a hash chain; audit verify checks it.`,
		Example: `  nosana-secrets audit --since 24h
  nosana-secrets audit --key DB_PASSWORD -o json
  nosana-secrets audit --follow
  nosana-secrets audit verify`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.Usagef("audit takes no arguments, got %q (did you mean audit verify?)", args[0])
			}
			if since != "" {
				t, err := cmdutil.ParseTimeAgo(since, opts.Now())
				if err != nil {
					return cmdutil.Usagef("--since: %v", err)
				}
				opts.Since = t
			}
			if opts.Limit < 0 {
				return cmdutil.Usagef("--limit must be positive")
			}
			return nil
		},
	}, opts, runF, func(ctx context.Context, opts *Options) error {
		if opts.Follow {
			// Interrupting a follow is how it ends: exit 0, not a signal death.
			return cmdutil.Interruptible(Run)(ctx, opts)
		}
		return Run(ctx, opts)
	}, nil)
	c.Flags().StringVar(&opts.Key, "key", "", "only events that touch this key")
	c.Flags().Var((*actionFlag)(&opts.Action), "action", "only events of this action (login, read, list, write, delete, restore, denied, fetch, result…)")
	c.Flags().StringVar(&since, "since", "", "only events since this time (RFC 3339, or a duration ago: 90m, 2h, 3d)")
	c.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many events (without --follow)")
	c.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new events")
	cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.FormatText, cmdutil.FormatJSON, cmdutil.FormatYAML)
	f.AddClientFlags(c)
	c.AddCommand(newCmdVerify(f))
	return c
}

// Run prints the events.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client("")
	if err != nil {
		return err
	}
	q := client.AuditQuery{Since: opts.Since, Key: opts.Key, Action: opts.Action, Limit: opts.Limit}
	page, err := c.Audit(ctx, q)
	if err != nil {
		return err
	}
	if !opts.Follow {
		return cmdutil.WriteRows(opts.IO, opts.Output, page.Items, []string{"SEQ", "TIME", "ACTION", "STATUS", "WHO", "IP", "KEYS"}, eventCells)
	}
	// Follow: oldest first, then whatever is newer than the last printed.
	var last uint64
	for i := len(page.Items) - 1; i >= 0; i-- {
		if err := writeEvent(opts.IO.Out, opts.Output, page.Items[i]); err != nil {
			return err
		}
		last = page.Items[i].Seq
	}
	t := time.NewTicker(opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var fresh []audit.Event
		q := client.AuditQuery{Key: opts.Key, Action: opts.Action, Limit: 1000}
		for {
			page, err := c.Audit(ctx, q)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			if err != nil {
				return err
			}
			done := page.NextCursor == ""
			for _, e := range page.Items {
				if e.Seq <= last {
					done = true
					break
				}
				fresh = append(fresh, e)
			}
			if done {
				break
			}
			q.Cursor = page.NextCursor
		}
		for i := len(fresh) - 1; i >= 0; i-- {
			if err := writeEvent(opts.IO.Out, opts.Output, fresh[i]); err != nil {
				return err
			}
			last = fresh[i].Seq
		}
	}
}

// writeEvent prints one event of --follow: a JSON line (JSON and YAML
// alike: a stream of documents that never ends is read line by line), or
// one tab-separated line of the table's cells.
func writeEvent(w io.Writer, format string, e audit.Event) error {
	if format != cmdutil.FormatText {
		return cmdutil.WriteJSON(w, e)
	}
	_, err := fmt.Fprintln(w, strings.Join(eventCells(e), "\t"))
	return err
}

// eventCells are the table cells of an event.
func eventCells(e audit.Event) []string {
	who := e.Actor
	if e.Job != "" {
		who += " job " + e.Job
	}
	if who == "" {
		who = "-"
	}
	keys := strings.Join(e.Keys, ",")
	if e.Trimmed != nil {
		why := "by retention"
		if e.Trimmed.Reason == audit.TrimQuota {
			why = "at the audit quota"
		}
		keys = "events before " + strconv.FormatUint(e.Trimmed.FirstSeq, 10) + " removed " + why
	}
	if e.Action == audit.Rekey {
		ids := make([]string, len(e.Vouch))
		for i, v := range e.Vouch {
			ids[i], _, _ = strings.Cut(v, ":")
		}
		keys = "retired signing keys vouched: " + strings.Join(ids, ",")
	}
	if e.Reason != "" {
		keys += " (" + e.Reason + ")"
	}
	if e.Count > 1 {
		keys += fmt.Sprintf(" (×%d)", e.Count)
	}
	return []string{strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339), string(e.Action),
		strconv.Itoa(e.Status), who, orDash(e.IP), cmdutil.DisplayText(keys)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCmdVerify(f *cmdutil.Factory) *cobra.Command {
	var noted, pinned string
	c := &cobra.Command{
		Use:   "verify [--head SEQ:HASH] [--key ID:HEX]",
		Short: "Check your audit log's hash chain and signatures, and print its head",
		Long: `Fetch your whole audit log and check, here rather than on the server, that
its hash chain holds and that the server signed it: no event was edited,
removed or reordered, and the log was not cut short at its start, by anyone
who can edit the store but does not hold the master key. The signing keys
are the server's (GET /v1/audit/key); --key pins one you noted before, and
the log must then be signed with it.

Prints the head (the newest event's seq and hash): note it, and pass it as
--head later to detect a log rewritten since, or shortened at its new end.
A noted head that retention removed since is reported on stderr, and the
check still passes when the server signed that removal. Exit 1 when
anything does not hold.`,
		Example: `  nosana-secrets audit verify
  nosana-secrets audit verify --head 42:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.Usagef("audit verify takes no arguments")
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			var v verifyOptions
			if noted != "" {
				seq, hash, ok := strings.Cut(noted, ":")
				n, err := strconv.ParseUint(seq, 10, 64)
				if !ok || err != nil || n == 0 || !isHash(hash) {
					return cmdutil.Usagef("--head must be SEQ:HASH as audit verify printed it")
				}
				v.head = audit.Head{Seq: n, Hash: hash}
			}
			if pinned != "" {
				k, err := audit.ParsePublicKey(pinned)
				if err != nil {
					return cmdutil.Usagef("--key: %v", err)
				}
				v.key = &k
			}
			return runVerify(c.Context(), f.IOStreams, f.Client, v)
		},
	}
	c.SetFlagErrorFunc(cmdutil.FlagError)
	c.Flags().StringVar(&noted, "head", "", "a head noted before (SEQ:HASH): fail if the log no longer has it")
	c.Flags().StringVar(&pinned, "key", "", "trust only this signing key (ID:HEX, as GET /v1/audit/key answers it)")
	f.AddClientFlags(c)
	return c
}

// isHash accepts 64 lowercase hex digits, the one spelling of a hash.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

type verifyOptions struct {
	head audit.Head       // noted before; zero: none
	key  *audit.PublicKey // pinned; nil: the server's keys
}

// errVerify is a log that does not verify: exit 1, with what was found.
func errVerify(format string, args ...any) error {
	return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("audit log does not verify: "+format, args...))
}

func runVerify(ctx context.Context, ios *cmdutil.IOStreams, newClient func(string) (*client.Client, error), v verifyOptions) error {
	c, err := newClient("")
	if err != nil {
		return err
	}
	log, err := c.AuditLog(ctx)
	if err != nil {
		return err
	}
	published, err := c.AuditKeys(ctx)
	var he *client.HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusNotImplemented) {
		return errVerify("the server publishes no audit signing key (GET /v1/audit/key answered %d), so nothing vouches for the log against the store; upgrade the server", he.Status)
	}
	if err != nil {
		return err
	}
	keys := audit.Keys{}
	for _, k := range published {
		keys.Add(k)
	}
	if v.key != nil {
		if !slices.Contains(published, *v.key) {
			return errVerify("the pinned key %s is not among the keys the server publishes (%s): the server's master key changed, or this is another server", v.key.ID, keyIDs(published))
		}
		keys = audit.Keys{}
		keys.Add(*v.key)
	}
	if len(log) == 0 {
		if v.head.Seq != 0 {
			return errVerify("the log is empty, but the noted head is seq %d: every event was removed", v.head.Seq)
		}
		_, err = fmt.Fprintln(ios.Out, "the audit log is empty")
		return err
	}
	// The signatures name the log's owner: the namespace the token reads.
	who, err := c.Whoami(ctx)
	if err != nil {
		return err
	}
	rep, err := audit.VerifySigned(log, who.Namespace, keys)
	if err != nil {
		return errVerify("%s", strings.TrimPrefix(err.Error(), "audit: "))
	}
	var trimmed *audit.HeadTrimmedError
	if err := audit.CheckHeadSigned(log, rep, v.head); errors.As(err, &trimmed) {
		ios.Infof("Notice: %s; it cannot be compared. Note the head below.", trimmed.Error())
	} else if err != nil {
		return errVerify("%s", strings.TrimPrefix(err.Error(), "audit: "))
	}
	if rep.Adopted != 0 {
		ios.Infof("Notice: events before seq %d were written before the server signed its log; it adopted them as the store held them then (event %d), and vouches for no more.",
			rep.Adopted, rep.Adopted)
	}
	_, err = fmt.Fprintf(ios.Out, "audit log verified: %d events, seq %d to %d\nsigned up to seq %d by key %s\nhead %d:%s\n",
		len(log), log[0].Seq, rep.Head.Seq, rep.Vouched, rep.SigKey, rep.Head.Seq, rep.Head.Hash)
	return err
}

func keyIDs(ks []audit.PublicKey) string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return strings.Join(ids, ", ")
}

// actionFlag is --action: one of audit's actions.
type actionFlag audit.Action

func (a *actionFlag) String() string { return string(*a) }
func (a *actionFlag) Type() string   { return "action" }
func (a *actionFlag) Set(s string) error {
	if !audit.Action(s).Valid() {
		return fmt.Errorf("unknown action %q", s)
	}
	*a = actionFlag(s)
	return nil
}
