package cmdutil

import (
	"strconv"
	"strings"
	"unicode"
)

// unsafeRune reports whether r, printed to a terminal, could do more than
// show a glyph: control characters (ESC starts the sequences that retitle
// a window, clear the screen or make links; DEL; the C1 set), format
// characters (bidi overrides and isolates that reorder text, zero-width
// characters that hide it, a BOM), line and paragraph separators, and the
// replacement character that stands for invalid UTF-8.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029' || r == unicode.ReplacementChar
}

// TerminalSafe returns s with every unsafe character written as a Go
// escape (\x1b, \u202e, \n); with keepLines, newline and tab stay as they
// are. Text that came from a server goes through it before it reaches a
// terminal.
func TerminalSafe(s string, keepLines bool) string {
	i := strings.IndexFunc(s, func(r rune) bool { return unsafeRune(r) && !(keepLines && (r == '\n' || r == '\t')) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if !unsafeRune(r) || keepLines && (r == '\n' || r == '\t') {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// QuoteKey is a key as a Go string literal, every unsafe character escaped,
// for messages that name a key.
func QuoteKey(k string) string { return strconv.Quote(k) }
