package set

import (
	"fmt"
	"strings"
)

// Entry is one KEY=VALUE of a dotenv file.
type Entry struct {
	Key, Value string
	Line       int
}

// ParseDotenv reads a .env file:
//
//   - blank lines and lines starting with # are skipped; an "export "
//     before a key is ignored;
//   - KEY=VALUE, with spaces around '=' allowed; the key is anything up to
//     '=' without whitespace;
//   - an unquoted value runs to the end of the line, trailing spaces and a
//     " # comment" cut off;
//   - a 'single-quoted' value is literal and may span lines;
//   - a "double-quoted" value may span lines and knows the escapes \n, \r,
//     \t, \", \\, \$ and \` (any other backslash stays as it is);
//   - quoted parts next to each other are one value, as in a shell:
//     "it's "'"quoted"' is it's "quoted";
//   - nothing is expanded: $VAR and ${VAR} stay as written.
//
// A key given twice is an error, since one of the two values would be
// lost silently. Errors name the line and key, never the value.
//
// Not joho/godotenv or subosito/gotenv: both expand $VAR in values (a
// secret holding "$" would change), keep the last of two equal keys
// silently and report no line numbers.
func ParseDotenv(data string) ([]Entry, error) {
	s := strings.ReplaceAll(data, "\r\n", "\n")
	s = strings.TrimPrefix(s, "\ufeff")
	var out []Entry
	seen := map[string]int{}
	line := 1
	for len(s) > 0 {
		start := line
		// One logical line, possibly continued inside quotes.
		nl := strings.IndexByte(s, '\n')
		cur := s
		if nl >= 0 {
			cur = s[:nl]
		}
		trimmed := strings.TrimSpace(cur)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			s, line = advance(s, nl, line)
			continue
		}
		rest := strings.TrimLeft(s, " \t")
		if r, ok := strings.CutPrefix(rest, "export"); ok && len(r) > 0 && (r[0] == ' ' || r[0] == '\t') {
			rest = strings.TrimLeft(r, " \t")
		}
		eq := strings.IndexAny(rest, "=\n")
		if eq < 0 || rest[eq] != '=' {
			return nil, fmt.Errorf("line %d: expected KEY=VALUE", start)
		}
		key := strings.TrimRight(rest[:eq], " \t")
		if key == "" {
			return nil, fmt.Errorf("line %d: the key before '=' is empty", start)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: key %q contains whitespace", start, key)
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var value string
		var err error
		switch {
		case strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, `'`):
			var b strings.Builder
			for err == nil && rest != "" && (rest[0] == '"' || rest[0] == '\'') {
				var part string
				part, rest, line, err = quoted(rest[1:], rest[0], line)
				b.WriteString(part)
			}
			value = b.String()
		default:
			end := strings.IndexByte(rest, '\n')
			v := rest
			if end >= 0 {
				v = rest[:end]
			}
			rest = rest[len(v):]
			if i := commentStart(v); i >= 0 {
				v = v[:i]
			}
			value = strings.TrimRight(v, " \t")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %s: %v", start, key, err)
		}
		// After a quoted value only spaces and a comment may follow.
		end := strings.IndexByte(rest, '\n')
		tail := rest
		if end >= 0 {
			tail = rest[:end]
		}
		if t := strings.TrimSpace(tail); t != "" && !strings.HasPrefix(t, "#") {
			return nil, fmt.Errorf("line %d: unexpected text after the quoted value of %s", line, key)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s is already set on line %d", start, key, prev)
		}
		seen[key] = start
		out = append(out, Entry{Key: key, Value: value, Line: start})
		s, line = advance(rest, end, line)
	}
	return out, nil
}

func advance(s string, nl, line int) (string, int) {
	if nl < 0 {
		return "", line
	}
	return s[nl+1:], line + 1
}

// commentStart is the index of a " #" comment in an unquoted value, or -1.
func commentStart(v string) int {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// quoted reads up to the closing quote q, counting newlines.
func quoted(s string, q byte, line int) (value, rest string, endLine int, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), s[i+1:], line, nil
		case c == '\\' && q == '"' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '$', '`':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
			if s[i] == '\n' {
				line++
			}
		default:
			if c == '\n' {
				line++
			}
			b.WriteByte(c)
		}
	}
	return "", "", line, fmt.Errorf("no closing %c quote", q)
}
