// Package gctune lets a small heap grow by a fixed floor between garbage
// collections instead of by its own size.
//
// With GOGC=100 the collector runs each time the heap doubles. A server
// whose live heap is a few MiB then collects dozens of times a second
// under load, and each cycle's fixed costs (roots, stacks, sweeping)
// dominate: on a GET that was ~10% of serve's CPU. After each collection
// Start sets the GC percentage so that the heap may grow by max(live,
// floor) before the next: from a live heap of floor up, exactly GOGC=100;
// below it, a collection every floor bytes allocated. Peak heap is then
// live + max(live, floor), a bound independent of the load.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// maxPercent caps the percentage set for a nearly empty heap.
const maxPercent = 2000

// Start tunes the collector after every cycle until stop is called. It
// does nothing when GOGC is set in the environment: the operator chose.
func Start(floor uint64) (stop func()) {
	if os.Getenv("GOGC") != "" || floor == 0 {
		return func() {}
	}
	t := &tuner{floor: floor, percent: 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.arm()
	return func() {
		if t.stopped.CompareAndSwap(false, true) {
			debug.SetGCPercent(100)
		}
	}
}

type tuner struct {
	floor   uint64
	percent int
	sample  []metrics.Sample
	stopped atomic.Bool
}

// sentinel is garbage from its birth: its finalizer runs after the first
// collection that finds it, which is how the tuner hears of each cycle.
// (It is larger than the tiny allocator's 16 bytes, whose objects may
// share a block with live ones and never be finalized.)
type sentinel struct{ _ [32]byte }

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// adjust sets the percentage for the live heap the last cycle marked.
func (t *tuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := Percent(t.sample[0].Value.Uint64(), t.floor)
	// A change under 5% is not worth the heap lock.
	if d := p - t.percent; d*20 > t.percent || -d*20 > t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
}

// Percent is the GC percentage that lets a heap of live bytes grow by
// max(live, floor) before the next collection.
func Percent(live, floor uint64) int {
	if live >= floor {
		return 100
	}
	if live == 0 || floor/live >= maxPercent/100 {
		return maxPercent
	}
	return int(floor * 100 / live)
}
