// Package ci says whether tests run in CI, where a test that cannot reach
// what it needs fails rather than skips. It imports nothing of ours, so
// every test helper can use it.
package ci

import "os"

// On reports whether the environment variable CI is set (non-empty).
func On() bool { return os.Getenv("CI") != "" }
