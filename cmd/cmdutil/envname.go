package cmdutil

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/nosana-ci/nosana-secrets/client"
)

// EnvName maps a secret key to an environment variable name.
//
// A key that already is a portable name ([A-Za-z_][A-Za-z0-9_]*) is used as
// it is, case kept. In any other key every character outside [A-Za-z0-9_]
// becomes '_' (so "db/password" is db_password and "api-key.v2" is
// api_key_v2), and a name that would start with a digit gets a leading '_'.
// An empty key has no name ("").
func EnvName(key string) string {
	if key == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range key {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name[0] >= '0' && name[0] <= '9' {
		name = "_" + name
	}
	return name
}

// ValidEnvName reports whether s is a portable environment variable name.
func ValidEnvName(s string) bool { return s != "" && EnvName(s) == s }

// ValueString is a secret value as text: a JSON string as its content, any
// other value as its compact JSON (42, true, null, {"a":1}).
func ValueString(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// EnvVar is one secret as an environment variable.
type EnvVar struct {
	Name  string // the variable
	Key   string // the secret's key
	Value string // ValueString of the secret
}

// EnvVars maps secrets to environment variables, sorted by name: strip is
// removed from the front of each key first (run --prefix), then EnvName
// applies. When keys collide on a name, a key that is the name exactly
// wins, else the key that sorts first; the others are dropped. Keys whose
// name is empty and values holding a NUL byte (which no environment can
// carry) are dropped too. notes says, by key and never by value, what was
// dropped and why.
func EnvVars(secrets client.Secrets, strip string) (vars []EnvVar, notes []string) {
	// Keys that are their variable's exact name come first, so they win any
	// collision; within each group, keys in sorted order.
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	exact := func(k string) bool { return ValidEnvName(strings.TrimPrefix(k, strip)) }
	sort.Slice(keys, func(i, j int) bool {
		if ei, ej := exact(keys[i]), exact(keys[j]); ei != ej {
			return ei
		}
		return keys[i] < keys[j]
	})
	byName := map[string]string{} // name → the key that has it
	for _, k := range keys {
		name := EnvName(strings.TrimPrefix(k, strip))
		if name == "" {
			notes = append(notes, "skipped "+strconv.Quote(k)+": nothing is left of the key to name a variable")
			continue
		}
		v := ValueString(secrets[k])
		if strings.IndexByte(v, 0) >= 0 {
			notes = append(notes, "skipped "+strconv.Quote(k)+": its value holds a NUL byte, which no environment variable can")
			continue
		}
		if kept, ok := byName[name]; ok {
			notes = append(notes, "keys "+strconv.Quote(kept)+" and "+strconv.Quote(k)+" both map to $"+name+"; using "+strconv.Quote(kept))
			continue
		}
		byName[name] = k
		vars = append(vars, EnvVar{Name: name, Key: k, Value: v})
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	return vars, notes
}

// ShellQuote quotes s for a POSIX shell: 'it'\”s'.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DotenvQuote quotes s for a .env file that `set --from-file` reads back
// and that bash and dash can source, both to the same bytes: in double
// quotes, with a backslash before \ " $ and ` (which alone stay special
// there) and every other byte as it is, newlines included. A CR before a
// LF is followed by "" (the quote closed and reopened), so that no CR LF
// pair, which a reader takes for a line end, is written.
func DotenvQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteByte(c)
			if i+1 < len(s) && s[i+1] == '\n' {
				b.WriteString(`""`)
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
