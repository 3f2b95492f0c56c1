package mongostore

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Tally counts the commands stores send, by command, collection and
// whether FerretDB v1 on SQLite can answer the filter without decoding the
// whole collection (a filter of _id alone, a string).
type Tally struct {
	mu      sync.Mutex
	started map[int64]string
	at      map[int64]time.Time
	Count   map[string]int
	Took    map[string]time.Duration
}

// NewTally returns an empty Tally.
func NewTally() *Tally {
	return &Tally{started: map[int64]string{}, at: map[int64]time.Time{}, Count: map[string]int{}, Took: map[string]time.Duration{}}
}

// Open opens a store that reports to t.
func (t *Tally) Open(ctx context.Context, uri string) (*Store, error) {
	return open(ctx, uri, t.monitor())
}

func (t *Tally) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			k := classify(e.CommandName, e.Command)
			t.mu.Lock()
			t.started[e.RequestID] = k
			t.at[e.RequestID] = time.Now()
			t.Count[k]++
			t.mu.Unlock()
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { t.done(e.RequestID) },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { t.done(e.RequestID) },
	}
}

func (t *Tally) done(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.started[id]
	if ok {
		t.Took[k] += time.Since(t.at[id])
		delete(t.started, id)
		delete(t.at, id)
	}
}

// Reset forgets what was counted.
func (t *Tally) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Count = map[string]int{}
	t.Took = map[string]time.Duration{}
}

// Snapshot returns the counts so far, by "command collection class".
func (t *Tally) Snapshot() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.Count {
		out[k] = v
	}
	return out
}

// Write writes the counts and times to path, the slowest first.
func (t *Tally) Write(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ks []string
	for k := range t.Count {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return t.Took[ks[i]] > t.Took[ks[j]] })
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%-60s %7d  %10.1fs  %8.2fms/op\n", k, t.Count[k], t.Took[k].Seconds(), float64(t.Took[k].Microseconds())/1000/float64(t.Count[k]))
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
}

// classify is "command collection class": class "id" for a filter of _id
// alone (a string), "scan" for any other, "+sort" when sorted.
func classify(name string, cmd bson.Raw) string {
	coll, _ := cmd.Lookup(name).StringValueOK()
	var filters []bson.Raw
	var sorted bool
	switch name {
	case "find":
		f, _ := cmd.Lookup("filter").DocumentOK()
		filters = append(filters, f)
		_, sorted = cmd.Lookup("sort").DocumentOK()
	case "findAndModify":
		f, _ := cmd.Lookup("query").DocumentOK()
		filters = append(filters, f)
	case "update", "delete":
		arr, _ := cmd.Lookup(name + "s").ArrayOK()
		vals, _ := arr.Values()
		for _, v := range vals {
			d, _ := v.DocumentOK()
			f, _ := d.Lookup("q").DocumentOK()
			filters = append(filters, f)
		}
	case "insert":
		return name + " " + coll + " id"
	case "aggregate", "count", "distinct":
		return name + " " + coll + " scan"
	default:
		return name
	}
	class := "id"
	for _, f := range filters {
		els, _ := f.Elements()
		if len(els) != 1 || els[0].Key() != "_id" || els[0].Value().Type != bson.TypeString {
			class = "scan"
		}
	}
	if sorted {
		class += "+sort"
	}
	return name + " " + coll + " " + class
}
