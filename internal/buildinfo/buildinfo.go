// Package buildinfo holds the version stamped in at release time with
// -ldflags "-X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Version=…".
package buildinfo

import "runtime/debug"

// Set by the linker in release builds.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is the version, commit and build date, falling back to what the Go
// toolchain recorded for a `go build` or `go install`.
func Info() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return version, commit, date
}
