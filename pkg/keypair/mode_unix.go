//go:build !windows

package keypair

import "io/fs"

const isWindows = false

func looseMode(m fs.FileMode) bool { return m.Perm()&0o077 != 0 }
