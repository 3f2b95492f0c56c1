package server

import (
	"crypto/ed25519"
	"strconv"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

// FuzzParseNodeHeader: any header parses without a panic, and one that is
// accepted names the job, carries a 64-byte signature and a time within
// the window.
func FuzzParseNodeHeader(f *testing.F) {
	now := time.UnixMilli(1765000000000)
	_, k, _ := ed25519.GenerateKey(nil)
	job := "7Ypg4ts1QGXyvXqK5cj1HGeMX2ytSLZzVxGWkKCsMRrF"
	f.Add(job + ":" + base58.Encode(ed25519.Sign(k, []byte(job))) + ":" + strconv.FormatInt(now.UnixMilli(), 10))
	f.Add("Bearer x.y.z")
	f.Add(job + "::")
	f.Add(job + ":1:99999999999999999999")
	f.Fuzz(func(t *testing.T, h string) {
		nh, why := parseNodeHeader(h, job, now, time.Minute)
		if why != "" {
			return
		}
		if nh.job != job || len(nh.sig) != ed25519.SignatureSize {
			t.Fatalf("accepted %q as %+v", h, nh)
		}
		if d := now.Sub(time.UnixMilli(nh.ms)); d > time.Minute || d < -time.Minute {
			t.Fatalf("accepted %q at %s from now", h, d)
		}
	})
}
