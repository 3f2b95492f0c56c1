package backends

import "log/slog"

// Describe is the one-line error Open returns, for other code that opens
// a store from a URI (migrate reads the original's): the redacted URI,
// then err with every secret of the URI scrubbed from it.
func Describe(uri string, err error) error { return describe(uri, err) }

var discard = slog.New(slog.DiscardHandler)
