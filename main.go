// Command nosana-secrets is the Nosana secret manager: the server (serve)
// and the client commands that sign with a local Solana keypair.
package main

import (
	"os"

	"github.com/nosana-ci/nosana-secrets/cmd"
)

func main() { os.Exit(cmd.Main()) }
