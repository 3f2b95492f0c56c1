package keypair

import "io/fs"

const isWindows = true

func looseMode(fs.FileMode) bool { return false }
