package cmdutil

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTimeAgo reads a point in time: RFC 3339 (2026-01-02T15:04:05Z), or
// a duration before now (90m, 2h, 3d).
func ParseTimeAgo(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time like 2026-01-02T15:04:05Z nor a duration ago like 90m, 2h or 3d", s)
	}
	return now.Add(-d), nil
}

// DisplayText is s made safe for one line of a terminal (see displayText).
func DisplayText(s string) string { return displayText(s) }
