package jsonlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// same logs with both handlers, at one time, and fails unless the bytes
// are the same.
func same(t *testing.T, opts *slog.HandlerOptions, log func(*slog.Logger)) {
	t.Helper()
	var want, got bytes.Buffer
	log(slog.New(atOneTime{reference(&want, opts)}))
	log(slog.New(atOneTime{New(&got, opts)}))
	if got.String() != want.String() {
		t.Fatalf("got  %q\nwant %q", got.String(), want.String())
	}
}

// reference is what New must write: slog's JSONHandler, durations as text.
func reference(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	o.ReplaceAttr = DurationText(o.ReplaceAttr)
	return slog.NewJSONHandler(w, &o)
}

// TestDurationsAsText: a duration reads as people write it (issue 21).
func TestDurationsAsText(t *testing.T) {
	var b bytes.Buffer
	slog.New(New(&b, nil)).Info("shutting down", "grace", 30*time.Second)
	if !strings.Contains(b.String(), `"grace":"30s"`) {
		t.Errorf("logged %s", b.String())
	}
}

// atOneTime stamps every record with the same time (in the local zone,
// as slog's own records are).
type atOneTime struct{ slog.Handler }

var oneTime = time.Date(2026, 12, 1, 15, 43, 21, 970154290, time.Local)

func (h atOneTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = oneTime
	return h.Handler.Handle(ctx, r)
}
func (h atOneTime) WithAttrs(as []slog.Attr) slog.Handler { return atOneTime{h.Handler.WithAttrs(as)} }
func (h atOneTime) WithGroup(n string) slog.Handler       { return atOneTime{h.Handler.WithGroup(n)} }

var tricky = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r", "\x00\x01\x1f\x7f", "<script>&amp;",
	"é ü 中文 🎉", "\u2028 \u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80", strings.Repeat("x", 3000),
}

func TestStringsAsSlogWrites(t *testing.T) {
	for _, s := range tricky {
		same(t, nil, func(l *slog.Logger) { l.Info(s, s, s, "k", s) })
	}
}

var floats = []float64{0, math.Copysign(0, -1), 1, -1, 0.028, 1.5, 123456.789, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300,
	-2.5e-10, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-9, 100, 0.1, 1.0 / 3}

func TestKindsAsSlogWrites(t *testing.T) {
	for _, f := range floats {
		same(t, nil, func(l *slog.Logger) { l.Info("f", "f", f) })
	}
	same(t, nil, func(l *slog.Logger) {
		l.Warn("kinds", "i", -42, "u", uint64(math.MaxUint64), "b", true, "nb", false, "d", 1500*time.Millisecond,
			"i64", int64(math.MinInt64), slog.String("", "empty key"))
	})
}

func TestLevelsAndOptionsAsSlogWrites(t *testing.T) {
	for _, lv := range []slog.Level{slog.LevelDebug - 3, slog.LevelDebug, slog.LevelInfo, slog.LevelInfo + 2, slog.LevelWarn, slog.LevelError, slog.LevelError + 4} {
		for _, min := range []slog.Leveler{nil, slog.LevelDebug - 4, slog.LevelWarn} {
			same(t, &slog.HandlerOptions{Level: min}, func(l *slog.Logger) { l.Log(context.Background(), lv, "at level", "n", 1) })
		}
	}
	same(t, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "secret" {
			return slog.String("secret", "redacted")
		}
		return a
	}}, func(l *slog.Logger) { l.Info("replaced", "secret", "v") })
	same(t, &slog.HandlerOptions{AddSource: true}, func(l *slog.Logger) { l.Info("with source") })
}

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

// TestFallbacksAsSlogWrites: what the fast path leaves to slog is written
// as slog writes it.
func TestFallbacksAsSlogWrites(t *testing.T) {
	same(t, nil, func(l *slog.Logger) {
		l.Info("any", "err", errors.New("boom"), "m", map[string]int{"a": 1}, "nan", math.NaN(), "inf", math.Inf(-1))
		l.Info("group", slog.Group("g", "a", 1, "b", "x"), "after", 2)
		l.Info("time", "at", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
		l.Info("valuer", "v", valuer{}, "empty", slog.Attr{})
		l.With("req", "r1").WithGroup("grp").Info("derived", "k", "v")
	})
	// A record without a time, and one of a year RFC 3339 cannot write.
	for _, at := range []time.Time{{}, time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 15, 4, 5, 120000000, time.FixedZone("X", 3600))} {
		var want, got bytes.Buffer
		r := slog.NewRecord(at, slog.LevelInfo, "m", 0)
		r.AddAttrs(slog.Int("n", 1))
		_ = reference(&want, nil).Handle(context.Background(), r)
		_ = New(&got, nil).Handle(context.Background(), r)
		if got.String() != want.String() {
			t.Fatalf("got  %q\nwant %q", got.String(), want.String())
		}
	}
}

// TestRandomRecordsAsSlogWrites compares many records of random strings
// (any bytes) and numbers.
func TestRandomRecordsAsSlogWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(3) == 0 {
				b[i] = byte(' ' + rng.IntN(95))
			}
		}
		if rng.IntN(4) == 0 {
			return string(utf8.AppendRune(b, rune(rng.IntN(0x11000))))
		}
		return string(b)
	}
	for range 2000 {
		msg, args := str(), []any{str(), str(), "f", rng.NormFloat64() * math.Pow(10, float64(rng.IntN(60)-30)), "i", rng.Int64()}
		same(t, nil, func(l *slog.Logger) { l.Info(msg, args...) })
	}
}

// TestHandleAttrsAsSlogWrites: HandleAttrs writes the bytes slog writes for
// the record it stands for, on the fast path and on the fallback (a group,
// a time, any value).
func TestHandleAttrsAsSlogWrites(t *testing.T) {
	for _, attrs := range [][]slog.Attr{
		nil,
		requestLine,
		append(slices.Clone(requestLine), slog.String("error", tricky[3])),
		{slog.String("a", "b"), slog.Group("g", slog.Int("x", 1))},
		{slog.Time("at", oneTime), slog.Any("err", errors.New("boom"))},
	} {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			var want, got bytes.Buffer
			r := slog.NewRecord(oneTime, level, "request", 0)
			r.AddAttrs(attrs...)
			_ = reference(&want, nil).Handle(context.Background(), r)
			if err := New(&got, nil).(*Handler).HandleAttrs(context.Background(), oneTime, level, "request", attrs); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("got  %q\nwant %q", got.String(), want.String())
			}
		}
	}
}

// requestLine is the request log's attributes.
var requestLine = []slog.Attr{slog.String("request_id", "7e14fafefa46-5"), slog.String("method", "GET"),
	slog.String("route", "/secrets/:key"), slog.Int("status", 200), slog.Int64("bytes", 100),
	slog.Float64("duration_ms", 0.089), slog.String("ip", "127.0.0.1"),
	slog.String("address", "HLERxKc6jz28cSD2LUHzpbF8LEGB5HF16EBtvCb7keSX")}

func TestOneWriteALine(t *testing.T) {
	var w countWriter
	l := slog.New(New(&w, nil))
	l.Info("fast", "a", 1)
	l.Info("slow", "g", slog.GroupValue(slog.Int("x", 1)))
	if w.writes != 2 || strings.Count(w.buf.String(), "\n") != 2 {
		t.Fatalf("%d writes of %q", w.writes, w.buf.String())
	}
}

type countWriter struct {
	buf    bytes.Buffer
	writes int
}

func (c *countWriter) Write(p []byte) (int, error) { c.writes++; return c.buf.Write(p) }

func BenchmarkRequestLine(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    slog.Handler
	}{{"slog", slog.NewJSONHandler(discard{}, nil)}, {"jsonlog", New(discard{}, nil)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				r.AddAttrs(requestLine...)
				_ = tc.h.Handle(context.Background(), r)
			}
		})
	}
	b.Run("jsonlog-attrs", func(b *testing.B) {
		h := New(discard{}, nil).(*Handler)
		b.ReportAllocs()
		for b.Loop() {
			_ = h.HandleAttrs(context.Background(), time.Now(), slog.LevelInfo, "request", requestLine)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
