// Package restore is `nosana-secrets restore`: restore FILE loads a backup
// into the store (restore.go); restore KEY --version N and restore --as-of
// TIME bring back versions through the API (key.go).
package restore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// RestoreOptions are the parsed flags of restore.
type RestoreOptions struct {
	cmdutil.StoreOptions
	File   string // "-": stdin
	Merge  bool
	DryRun bool
	// AllowUnauthenticated restores a file of format 1 or 2, whose
	// checksum has no key; without it such a file is refused, so a file
	// rewritten in an old format cannot slip past the MAC.
	AllowUnauthenticated bool
}

// NewCmdRestoreFile builds restore FILE alone; runF replaces the work in
// tests.
func NewCmdRestoreFile(f *cmdutil.Factory, runF func(*RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "restore FILE",
		Short: "Load a backup (FILE, or - for stdin) into the store",
		Long: "Load a file written by backup (restore --file FILE, or restore FILE) into the\n" +
			"configured store (STORAGE_CONNECTION and MASTER_KEY as for serve). Before writing\n" +
			"anything it checks the file whole and authentic (format, counts, the MAC under the\n" +
			"master key; files of format 1 and 2 have none and need --allow-unauthenticated),\n" +
			"that the configured master keys open\n" +
			"every value and that every audit log verifies.\n\n" +
			"A store that holds anything of an owner (a secret, a kept version, an audit\n" +
			"event) is refused unless --merge: then a key or log the store holds as the file\n" +
			"has it (or the start of it, from a restore that stopped) gets only what is\n" +
			"missing, and one with a history of its own keeps it, its key getting the file's\n" +
			"value as its newest. A restore that stops half-way, run again with --merge,\n" +
			"leaves what one whole restore does.\n" +
			"To move to another backend: backup, then restore with the new STORAGE_CONNECTION.",
		Example: "  nosana-secrets restore secrets.backup\n" +
			"  gunzip -c secrets.backup.gz | STORAGE_CONNECTION=postgres://… nosana-secrets restore -",
		Args: func(c *cobra.Command, args []string) error {
			if opts.File != "" {
				if len(args) > 0 {
					return cmdutil.Usagef("give the backup once: --file %s, or %s, not both", opts.File, args[0])
				}
				return nil
			}
			return cmdutil.OneArg("FILE (- for stdin)")(c, args)
		},
	}, opts, runF, cmdutil.Interruptible(restoreRun), func(args []string) error {
		if opts.File == "" {
			opts.File = args[0]
		}
		return nil
	})
	opts.StoreOptions = f.StoreOptions(c)
	c.Flags().StringVar(&opts.File, "file", "", "the backup file to load (- for stdin)")
	c.Flags().BoolVar(&opts.Merge, "merge", false, "restore into a store that is not empty, adding what it lacks")
	c.Flags().BoolVar(&opts.AllowUnauthenticated, "allow-unauthenticated", false, "restore a backup of format 1 or 2 (before keyed MACs), which anyone who could edit the file could have changed")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check the file and the keys, and count what a restore would write, writing nothing")
	c.Flags().Bool("create", false, "create the target store if it does not exist yet (for sqlite, with the key file or MASTER_KEY you give: a restore never invents a key)")
	return c
}

// A write of a restore holds at most batch records, and stops taking
// more (at a key's end) past batchBytes of values: memory stays flat.
const (
	batch      = 1000
	batchBytes = 8 << 20
)

// errNotEmpty is the refusal of a restore without --merge into a store
// that holds anything of an owner.
var errNotEmpty = errors.New("restore: the store is not empty (it holds secrets, kept versions or audit events); " +
	"restore into an empty store, or add --merge to add the file's keys and logs beside what it holds")

// restoreRun checks the file, then loads it; the command cancels ctx on
// SIGINT or SIGTERM (cmdutil.Interruptible).
func restoreRun(ctx context.Context, opts *RestoreOptions) error {
	first, file, copied, err := openFile(opts)
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
	rd := migrate.SnapshotReader{
		MaxLine: migrate.MaxLine(bodyLimit()),
		MACKey: func(id string) ([]byte, error) {
			key, _, err := st.Plain.Derive(id, migrate.MACPurpose, migrate.MACKeySize)
			if err != nil {
				return nil, fmt.Errorf("they are %s", strings.Join(st.Plain.KeyIDs(), ", "))
			}
			return key, nil
		},
	}

	// First pass: the file is whole and authentic, every value opens,
	// every owner's audit log verifies.
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
	h, err := rd.Read(first, func(r migrate.SnapshotRecord) error {
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
	if err == nil {
		err = copied()
	}
	logEvents = nil
	if err != nil {
		return fmt.Errorf("restore %s: %w", opts.File, err)
	}
	if !migrate.Authenticated(h.Version) {
		if !opts.AllowUnauthenticated {
			return cmdutil.WithCode(cmdutil.ExitFailure, fmt.Errorf("restore: %s is a backup of format version %d, whose checksum has no key, so an edit of it cannot be told apart; "+
				"nothing was written. Restore it with --allow-unauthenticated only if it comes from a place you trust (or make a new backup: they carry a keyed MAC)", opts.File, h.Version))
		}
		fmt.Fprintf(opts.IO.ErrOut, "restore: warning: %s is a backup of format version %d, whose checksum has no key: "+
			"it is not authenticated (whoever could edit the file could have); restoring it as --allow-unauthenticated asks\n", opts.File, h.Version)
	}
	if missing := missingKeys(h.KeyIDs, st.Plain.KeyIDs()); len(missing) > 0 || broken > 0 {
		return fmt.Errorf("restore: %d of %d values do not open with the configured master keys (%s); the file needs key id %s. Nothing was written",
			broken, h.Secrets+h.Versions, strings.Join(st.Plain.KeyIDs(), ", "), strings.Join(h.KeyIDs, ", "))
	}
	if !opts.Merge {
		if held, err := holdsAny(ctx, lower); err != nil {
			return fmt.Errorf("restore: read the store: %w", err)
		} else if held {
			return cmdutil.WithCode(cmdutil.ExitFailure, errNotEmpty)
		}
	}

	// Second pass, a kind of line at a time. A dry run makes the same
	// decisions and counts, and writes nothing.
	w := &writer{ctx: ctx, opts: opts, rd: rd, store: lower, imported: map[string]bool{}}
	w.prog = cmdutil.NewProgress(opts.IO, "restoring", "records", h.Secrets+h.Versions+h.Events, cmdutil.DefaultProgressInterval)
	if h.Versions > 0 {
		if err := w.versions(file); err != nil {
			return fmt.Errorf("restore stopped after the versions of %d keys (each key's whole; run it again with --merge to finish): %w", w.keys, err)
		}
	}
	if err := w.secrets(file, h); err != nil {
		return err
	}
	if h.Events > 0 {
		if err := w.audit(file); err != nil {
			return fmt.Errorf("restore stopped after the audit logs of %d owners (run it again with --merge to finish): %w", w.logs, err)
		}
	}
	w.prog.Done()
	counts := fmt.Sprintf("%d secrets, %d versions and %d audit events of %d owners", w.secretsDone, w.versionsDone, w.events, h.Owners)
	if opts.DryRun {
		fmt.Fprintf(opts.IO.Out, "dry run: %s would be restored; the file is whole and the keys open it\n", counts)
	} else {
		fmt.Fprintf(opts.IO.Out, "restored %s (backup of %s)\n", counts, h.Created.Format("2006-01-02 15:04:05 UTC"))
	}
	if w.sameKeys > 0 || w.sameLogs > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "restore: %d keys and %d audit logs were in the store already, as the file has them\n", w.sameKeys, w.sameLogs)
	}
	if w.heldKeys > 0 || w.heldLogs > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "restore: %d keys and %d audit logs the store held already kept their own history; "+
			"those keys got the file's value as their newest\n", w.heldKeys, w.heldLogs)
	}
	if w.partLogs > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "restore: %d audit logs hold only the first events of the file's log (a restore stopped inside one of them); "+
			"this backend imports into an empty log only, so they were kept as they are\n", w.partLogs)
	}
	return nil
}

// bodyLimit is the largest value a server accepts: BODY_LIMIT when it is
// set larger than the default, which bounds a backup's lines.
func bodyLimit() int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(os.Getenv("BODY_LIMIT")), 10, 64)
	if err != nil || n < migrate.DefaultBodyLimit {
		return migrate.DefaultBodyLimit
	}
	return n
}

// writer is the second pass of a restore: each kind of line read again
// from the verified file and written, one owner at a time.
type writer struct {
	prog  *cmdutil.Progress
	read  int64 // records of the kinds written, read so far
	ctx   context.Context
	opts  *RestoreOptions
	rd    migrate.SnapshotReader
	store storage.Store // below the seal layer: values as the file has them
	// imported are the owner NUL name of keys whose versions the file's
	// version lines gave, imported now (true) or there already (false):
	// their secret lines are the newest version.
	imported     map[string]bool
	keys         int   // keys whose versions were imported
	versionsDone int64 // version lines imported
	secretsDone  int64 // secret lines restored
	logs, events int   // audit logs and events imported
	// Of a --merge: keys and logs as the file has them already, and those
	// with a history of their own (kept).
	sameKeys, sameLogs int
	heldKeys, heldLogs int
	partLogs           int             // logs that hold the file's first events only
	held               map[string]bool // owner NUL name of held keys
}

func rewind(f *os.File) error {
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// withOwner is v with its writer's address the owner's when it has none:
// every restored version names who wrote it.
func withOwner(owner string, v storage.Version) storage.Version {
	if v.By.Address == "" {
		v.By.Address = owner
	}
	return v
}

// Kinds of what the store holds of a key or a log, compared with the file.
const (
	absent = iota // nothing
	same          // exactly what the file has
	prefix        // the file's first versions or events, and no others (a killed restore)
	other         // a history of its own
)

// compareKey tells what the store holds of owner's key whose versions the
// file has as want (ascending, writers filled in).
func (w *writer) compareKey(owner string, want []storage.Version) (int, error) {
	name := want[0].Name
	have, err := w.store.Versions(w.ctx, owner, name)
	if errors.Is(err, storage.ErrNotFound) {
		return absent, nil
	}
	if err != nil || len(have) > len(want) {
		return other, err
	}
	slices.Reverse(have) // oldest first, as want
	for i, v := range have {
		f := want[i]
		if v.Version != f.Version || v.Deleted != f.Deleted || !sameTime(v.CreatedAt, f.CreatedAt) || v.By != f.By {
			return other, nil
		}
		if v.Deleted {
			continue
		}
		got, err := w.store.GetVersion(w.ctx, owner, name, v.Version)
		if err != nil {
			return other, err
		}
		if !bytes.Equal(got.Value, f.Value) {
			return other, nil
		}
	}
	if len(have) < len(want) {
		return prefix, nil
	}
	return same, nil
}

// sameTime reports whether a time the store gave back is the file's, to
// the millisecond a MongoDB store keeps.
func sameTime(stored, file time.Time) bool {
	return stored.Truncate(time.Millisecond).Equal(file.Truncate(time.Millisecond))
}

// versions imports the file's version lines, a few hundred at a time and
// never splitting a key. With --merge, a key the store holds as the file
// has it stays; one it holds the first versions of (a restore stopped
// half-way) is put back whole; one with a history of its own is kept.
func (w *writer) versions(file *os.File) error {
	if err := rewind(file); err != nil {
		return err
	}
	var owner string
	var pending []storage.Version
	var size int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		keep := pending[:0:0]
		// Names held as a prefix are destroyed, then imported whole; so
		// are absent ones, which clears what an import that stopped half-way
		// can leave and no reader sees (MongoDB without transactions: the
		// older versions written, not the newest).
		var redo []string
		if w.opts.Merge {
			for i := 0; i < len(pending); {
				j := i
				for j < len(pending) && pending[j].Name == pending[i].Name {
					j++
				}
				kind, err := w.compareKey(owner, pending[i:j])
				if err != nil {
					return err
				}
				switch kind {
				case prefix, absent:
					redo = append(redo, pending[i].Name)
					keep = append(keep, pending[i:j]...)
				case same:
					w.imported[owner+"\x00"+pending[i].Name] = false
					w.sameKeys++
				default:
					w.held[owner+"\x00"+pending[i].Name] = true
					w.heldKeys++
				}
				i = j
			}
		} else {
			keep = pending
		}
		if !w.opts.DryRun {
			if len(redo) > 0 {
				if err := w.store.Destroy(w.ctx, owner, redo, nil); err != nil {
					return err
				}
			}
			if len(keep) > 0 {
				if err := w.store.ImportVersions(w.ctx, owner, keep); err != nil {
					return err
				}
			}
		}
		for i, v := range keep {
			if i == 0 || keep[i-1].Name != v.Name {
				w.imported[owner+"\x00"+v.Name] = true
				w.keys++
			}
		}
		w.versionsDone += int64(len(keep))
		pending, size = pending[:0], 0
		return nil
	}
	w.held = map[string]bool{}
	_, err := w.rd.Read(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindVersion {
			return nil
		}
		w.tick()
		newKey := len(pending) == 0 || pending[len(pending)-1].Name != r.Name
		if r.Owner != owner || newKey && (len(pending) >= batch || size >= batchBytes) {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		pending = append(pending, withOwner(r.Owner, r.AsVersion()))
		size += len(r.Value)
		return w.ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	return err
}

// secrets restores the file's secret lines that no version line gave, each
// as one version written by its owner, at the time the file says it was;
// with --merge, a key the store holds with the file's value stays, and
// another one the store holds gets the file's value as its newest version.
func (w *writer) secrets(file *os.File, h migrate.SnapshotHeader) error {
	if err := rewind(file); err != nil {
		return err
	}
	var owner string
	var fresh []storage.Version
	var newest []storage.Change
	var size int
	flush := func() error {
		defer func() { fresh, newest, size = fresh[:0], newest[:0], 0 }()
		if w.opts.DryRun {
			return nil
		}
		if len(fresh) > 0 {
			if err := w.store.ImportVersions(w.ctx, owner, fresh); err != nil {
				return err
			}
		}
		if len(newest) > 0 {
			_, err := w.store.Commit(w.ctx, storage.Commit{Owner: owner, By: storage.Writer{Address: owner}, Changes: newest})
			return err
		}
		return nil
	}
	_, err := w.rd.Read(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindSecret {
			return nil
		}
		w.tick()
		key := r.Owner + "\x00" + r.Name
		if now, ok := w.imported[key]; ok {
			if now {
				w.secretsDone++ // its versions were restored
			}
			return nil
		}
		if r.Owner != owner || len(fresh)+len(newest) >= batch || size >= batchBytes {
			if err := flush(); err != nil {
				return err
			}
			owner = r.Owner
		}
		size += len(r.Value)
		kind := absent
		if w.held[key] {
			kind = other
		} else if w.opts.Merge {
			var err error
			if kind, err = w.compareSecret(r); err != nil {
				return err
			}
		}
		switch kind {
		case absent:
			fresh = append(fresh, secretVersion(r))
			w.secretsDone++
		case same:
			w.sameKeys++
		default:
			if !w.held[key] {
				w.heldKeys++
			}
			if v, err := w.store.GetVersion(w.ctx, r.Owner, r.Name, 0); err == nil && bytes.Equal(v.Value, r.Value) {
				return w.ctx.Err() // the file's value is its newest already
			} else if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrDeleted) {
				return err
			}
			newest = append(newest, storage.Change{Name: r.Name, Value: r.Value, CAS: storage.NoCAS})
			w.secretsDone++
		}
		return w.ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("restore stopped after %d of %d secrets (each whole; run it again with --merge to finish): %w",
			w.secretsDone, h.Secrets, err)
	}
	return nil
}

// secretVersion is a secret line without version lines (a file of format
// version 1) as the one version it restores to.
func secretVersion(r migrate.SnapshotRecord) storage.Version {
	at := r.UpdatedAt
	if at.IsZero() {
		at = r.CreatedAt
	}
	return storage.Version{Name: r.Name, Version: max(r.Version, 1), Value: r.Value, CreatedAt: at,
		By: storage.Writer{Address: r.Owner}}
}

// compareSecret tells what the store holds of a secret line's key: absent,
// the same one version the line restores to, or other.
func (w *writer) compareSecret(r migrate.SnapshotRecord) (int, error) {
	v := secretVersion(r)
	kind, err := w.compareKey(r.Owner, []storage.Version{v})
	if kind == prefix { // cannot be: one version
		kind = other
	}
	return kind, err
}

// compareLog tells what owner's audit log holds, compared with the file's
// events: nothing, the same events, the first of them, or other ones.
func (w *writer) compareLog(owner string, want []audit.Event) (int, error) {
	page, err := w.store.Audit(w.ctx, owner, storage.AuditQuery{Limit: 1})
	if err != nil {
		return other, err
	}
	if len(page.Events) == 0 {
		return absent, nil
	}
	if page.Events[0].Seq > want[len(want)-1].Seq {
		return other, nil // newer events than the file's
	}
	have, err := storage.ReadAudit(w.ctx, w.store, owner)
	if err != nil || len(have) > len(want) {
		return other, err
	}
	for i, e := range have {
		if e.Seq != want[i].Seq || e.Hash != want[i].Hash {
			return other, nil
		}
	}
	if len(have) < len(want) {
		return prefix, nil
	}
	return same, nil
}

// audit imports each owner's log into an empty one. With --merge, a log
// the store holds as the file has it stays, and one of its own is kept (a
// file's chain cannot join another).
func (w *writer) audit(file *os.File) error {
	if err := rewind(file); err != nil {
		return err
	}
	var owner string
	var events []audit.Event
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		defer func() { events = events[:0] }()
		kind := absent
		if w.opts.Merge {
			var err error
			if kind, err = w.compareLog(owner, events); err != nil {
				return err
			}
		}
		switch kind {
		case absent:
			if !w.opts.DryRun {
				if err := w.store.ImportAudit(w.ctx, owner, events); err != nil {
					return err
				}
			}
			w.logs++
			w.events += len(events)
		case same:
			w.sameLogs++
		case prefix:
			// The start of the file's log: a restore stopped inside one
			// owner's import, where the backend's import is not one
			// transaction (MongoDB without one), which goes on after it.
			// A backend that cannot is left as it is, and said.
			if !w.opts.DryRun {
				if err := w.store.ImportAudit(w.ctx, owner, events); errors.Is(err, storage.ErrInvalid) {
					w.partLogs++
					return nil
				} else if err != nil {
					return err
				}
			}
			w.logs++
			w.events += len(events)
		default:
			w.heldLogs++
		}
		return nil
	}
	_, err := w.rd.Read(file, func(r migrate.SnapshotRecord) error {
		if r.Kind != migrate.KindAudit {
			return nil
		}
		w.tick()
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

// openFile returns what the first pass reads, and the private copy of it
// (a temporary file, gone when closed) that the later passes read once
// copied (copied()): so what they write is what the first pass checked,
// even if FILE changes meanwhile. Stdin is copied whole first.
func openFile(opts *RestoreOptions) (first io.Reader, private *os.File, copied func() error, err error) {
	private, err = os.CreateTemp("", "nosana-secrets-restore-*")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("restore: %w", err)
	}
	os.Remove(private.Name()) // gone when closed
	rewound := func() error { return rewind(private) }
	if opts.File == "-" {
		if _, err := io.Copy(private, opts.IO.In); err != nil {
			private.Close()
			return nil, nil, nil, fmt.Errorf("restore: read stdin: %w", err)
		}
		if err := rewound(); err != nil {
			private.Close()
			return nil, nil, nil, err
		}
		return private, private, func() error { return rewound() }, nil
	}
	f, err := os.Open(opts.File)
	if err != nil {
		private.Close()
		return nil, nil, nil, fmt.Errorf("restore: %w", err)
	}
	bw := bufio.NewWriterSize(private, 1<<20)
	return io.TeeReader(f, bw), private, func() error {
		defer f.Close()
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("restore: copy %s: %w", opts.File, err)
		}
		return rewound()
	}, nil
}

// tick counts one record read in the second pass.
func (w *writer) tick() {
	w.read++
	w.prog.Update(w.read, nil)
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

// holdsAny reports whether the store holds any secret, kept version or
// audit event of an owner (not the server's own records); it stops at the
// first.
func holdsAny(ctx context.Context, s storage.Store) (bool, error) {
	notSystem := func(owner string) error {
		if owner == seal.SystemOwner {
			return nil
		}
		return errFound
	}
	err := s.Walk(ctx, func(owner string, _ storage.Secret) error { return notSystem(owner) })
	if err == nil {
		err = s.WalkVersions(ctx, func(owner string, _ storage.Version) error { return notSystem(owner) })
	}
	if err == nil {
		err = s.WalkAudit(ctx, func(owner string, _ audit.Event) error { return notSystem(owner) })
	}
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}
