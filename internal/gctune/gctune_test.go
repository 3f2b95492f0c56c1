package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 10 << 20, maxPercent},
		{1 << 20, 10 << 20, 1000},
		{4 << 20, 10 << 20, 250},
		{5 << 20, 10 << 20, 200},
		{10 << 20, 10 << 20, 100},
		{64 << 20, 10 << 20, 100},
		{1 << 10, 10 << 20, maxPercent},
	} {
		if got := Percent(tc.live, tc.floor); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
		}
	}
}

// After a collection of a small heap the percentage is raised, and stop
// puts GOGC=100 back; with GOGC set, Start leaves it alone.
func TestStartTunes(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(1 << 40) // any heap is small beside a TiB
	for deadline := time.Now().Add(10 * time.Second); gogc() != maxPercent; {
		if time.Now().After(deadline) {
			t.Fatalf("the GC percentage stayed %d", gogc())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // finalizers run on a goroutine of their own
	}
	stop()
	if p := gogc(); p != 100 {
		t.Fatalf("after stop the GC percentage is %d, want 100", p)
	}

	t.Setenv("GOGC", "100")
	defer Start(1 << 40)()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if p := gogc(); p != 100 {
		t.Fatalf("with GOGC set the percentage became %d", p)
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
