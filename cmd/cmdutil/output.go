package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/nosana-ci/nosana-secrets/client"
)

// Output formats of -o/--output.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatEnv    = "env"
	FormatDotenv = "dotenv"
	FormatYAML   = "yaml"
)

// AllFormats are every format, for commands that print secret values.
var AllFormats = []string{FormatText, FormatJSON, FormatEnv, FormatDotenv, FormatYAML}

type formatValue struct {
	target  *string
	allowed []string
}

func (v *formatValue) String() string { return *v.target }
func (v *formatValue) Type() string   { return "format" }
func (v *formatValue) Set(s string) error {
	for _, a := range v.allowed {
		if s == a {
			*v.target = s
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q; use one of %s", s, strings.Join(v.allowed, ", "))
}

// AddOutputFlag adds -o/--output to c, accepting formats (the first is the
// default) and completing them; an unknown format is a usage error.
func AddOutputFlag(c *cobra.Command, target *string, formats ...string) {
	*target = formats[0]
	c.Flags().VarP(&formatValue{target: target, allowed: formats}, "output", "o",
		"output format: "+strings.Join(formats, ", "))
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// FlagError is the flag error function of the commands: a bad flag is a
// usage error (exit 2).
func FlagError(c *cobra.Command, err error) error {
	return Usagef("%v\nRun '%s --help' for usage.", err, c.CommandPath())
}

// WriteKeys prints key names: one per line (text), a JSON or YAML list.
func WriteKeys(w io.Writer, format string, keys []string) error {
	keys = append([]string(nil), keys...)
	sort.Strings(keys)
	switch format {
	case FormatJSON:
		if keys == nil {
			keys = []string{}
		}
		return writeJSON(w, keys)
	case FormatYAML:
		if len(keys) == 0 {
			_, err := io.WriteString(w, "[]\n")
			return err
		}
		return writeYAML(w, keys)
	case FormatText:
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(displayText(k) + "\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	return Usagef("output format %s needs the values; add --show-values", format)
}

// WriteSecrets prints secrets with their values in format:
//
//	text    key<TAB>value per line; strings raw, other values as JSON, and
//	        any text with control characters (a newline…) JSON-quoted
//	json    one object, values exactly as stored
//	yaml    one mapping, values as YAML of the same types
//	env     NAME='value' per line for a POSIX shell (names as in EnvName)
//	dotenv  NAME="value" per line, as `set --from-file` reads back
//
// For env and dotenv, the notes of EnvVars go to errOut, and a variable
// that UnsafeEnvName refuses makes it print nothing and return an error
// naming every such variable, unless allowUnsafe.
func WriteSecrets(w, errOut io.Writer, format string, secrets client.Secrets, allowUnsafe bool) error {
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	switch format {
	case FormatJSON:
		if secrets == nil {
			secrets = client.Secrets{}
		}
		return writeJSON(w, secrets)
	case FormatYAML:
		return writeSecretsYAML(w, keys, secrets)
	case FormatEnv, FormatDotenv:
		vars, notes := EnvVars(secrets, "")
		for _, n := range notes {
			fmt.Fprintln(errOut, "nosana-secrets: "+n)
		}
		if !allowUnsafe {
			if err := unsafeVarsError(vars); err != nil {
				return err
			}
		}
		for _, v := range vars {
			if format == FormatEnv {
				b.WriteString(v.Name + "=" + ShellQuote(v.Value) + "\n")
			} else {
				b.WriteString(v.Name + "=" + DotenvQuote(v.Value) + "\n")
			}
		}
	default:
		for _, k := range keys {
			b.WriteString(displayText(k) + "\t" + displayText(ValueString(secrets[k])) + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// displayText is s, or its Go quoting when it holds a character that would
// break the line or act on the terminal (newline, ESC, a bidi override…).
func displayText(s string) string {
	if strings.IndexFunc(s, unsafeRune) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// WriteJSON prints v as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

// WriteRecord writes v as JSON or YAML when format is one of them and
// reports whether it did; the caller prints its text form otherwise.
func WriteRecord(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case FormatJSON:
		return true, WriteJSON(w, v)
	case FormatYAML:
		return true, WriteYAML(w, v)
	}
	return false, nil
}

// Access names what a token or a trust lets do: "read" or "read-write".
func Access(write bool) string {
	if write {
		return "read-write"
	}
	return "read"
}

// WriteYAML prints v as a YAML document.
// It goes through v's JSON, so YAML has the field names, the omitted empty
// fields and the key order of JSON (the v1 API's).
func WriteYAML(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	n, err := JSONToYAML(raw)
	if err != nil {
		return err
	}
	return writeYAML(w, n)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

func writeSecretsYAML(w io.Writer, keys []string, secrets client.Secrets) error {
	if len(keys) == 0 {
		_, err := io.WriteString(w, "{}\n")
		return err
	}
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range keys {
		v, err := JSONToYAML(secrets[k])
		if err != nil {
			return fmt.Errorf("value of %s: %w", k, err)
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
	}
	return writeYAML(w, m)
}

// JSONToYAML converts a JSON value to a YAML node of the same types, keeping
// object key order and number text exactly.
func JSONToYAML(raw json.RawMessage) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := yamlNode(dec)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON")
	}
	return n, nil
}

func yamlNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		var n *yaml.Node
		if t == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode}
		} else {
			n = &yaml.Node{Kind: yaml.SequenceNode}
		}
		for dec.More() {
			if t == '{' {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key})
			}
			child, err := yamlNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, child)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	case string:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}
		if strings.Contains(t, "\n") {
			n.Style = yaml.LiteralStyle
		}
		return n, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token")
}

// WriteYAMLValue prints one JSON value as a YAML document.
func WriteYAMLValue(w io.Writer, raw json.RawMessage) error {
	n, err := JSONToYAML(raw)
	if err != nil {
		return err
	}
	return writeYAML(w, n)
}
