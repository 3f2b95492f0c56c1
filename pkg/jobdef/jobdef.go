// Package jobdef holds the rules of confidential job definitions (issue 22):
// the templates a project stores, checked against the job-definition schema
// of @nosana/sdk 0.4.69 (what today's node validates), their references
// %%secrets.KEY%% to the project's secrets, the resolved definition a node
// fetches, and the placeholder definition posted on chain.
package jobdef

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaJSON is generated from the SDK's own jobSchemas by
// test/nosana-sdk/genschema.mjs; the Node.js test there checks it is current.
//
//go:embed sdk-0.4.69.schema.json
var schemaJSON []byte

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

func compiled() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err = c.AddResource("sdk.json", doc); err != nil {
			schemaErr = err
			return
		}
		schema, schemaErr = c.Compile("sdk.json")
	})
	return schema, schemaErr
}

// MaxNameLen is the longest definition name, in bytes.
const MaxNameLen = 200

// CheckName refuses a definition name that is empty, too long, not UTF-8,
// or holds a control character or a '/' (names are one path segment).
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("definition name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("definition name is %d bytes long, more than %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return errors.New("definition name is not valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == '/' }):
		return errors.New("definition name holds a control character or '/'")
	}
	return nil
}

// InvalidError is a definition the SDK's validator would refuse: where
// (as the SDK writes it, "$input.ops[0].args") and why.
type InvalidError struct {
	Path   string
	Reason string
}

func (e *InvalidError) Error() string { return e.Path + ": " + e.Reason }

// Validate checks a job definition (JSON text) as @nosana/sdk 0.4.69's
// validateJobDefinition does; a refusal is an *InvalidError.
func Validate(doc []byte) error {
	s, err := compiled()
	if err != nil {
		return fmt.Errorf("job-definition schema: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &InvalidError{Path: "$input", Reason: "not JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &InvalidError{Path: "$input", Reason: "more than one JSON value"}
	}
	if err := s.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return leaf(ve)
		}
		return &InvalidError{Path: "$input", Reason: err.Error()}
	}
	if err := checkOpIDs(v); err != nil {
		return err
	}
	return checkExpose(v)
}

// checkOpIDs is the SDK's UniqueById tag on ops: every op's id is unique.
func checkOpIDs(v any) error {
	doc, _ := v.(map[string]any)
	ops, _ := doc["ops"].([]any)
	seen := map[string]bool{}
	for _, op := range ops {
		o, _ := op.(map[string]any)
		id, _ := o["id"].(string)
		if seen[id] {
			return &InvalidError{Path: "$input.ops", Reason: "ops[*].id must be unique"}
		}
		seen[id] = true
	}
	return nil
}

// leaf picks the deepest failing cause of a validation: the most specific
// place and reason (of a union, the member that got furthest).
func leaf(ve *jsonschema.ValidationError) *InvalidError {
	best := ve
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			if len(e.InstanceLocation) > len(best.InstanceLocation) || best == ve {
				best = e
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return &InvalidError{Path: sdkPath(best.InstanceLocation), Reason: best.ErrorKind.LocalizedString(english)}
}

var english = message.NewPrinter(language.English)

// sdkPath turns an instance location into the SDK's "$input.a[0].b".
func sdkPath(loc []string) string {
	var b strings.Builder
	b.WriteString("$input")
	for _, seg := range loc {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
		} else if identifier.MatchString(seg) {
			b.WriteString("." + seg)
		} else {
			q, _ := json.Marshal(seg)
			b.WriteString("[" + string(q) + "]")
		}
	}
	return b.String()
}

var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

var (
	portRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)$`)
	literal   = regexp.MustCompile(`^%%(ops|global)\.[^%]+%%$`)
)

// checkExpose applies the two tags of the SDK's container/run expose that
// JSON Schema cannot say (the ops id rule is checkOpIDs): a range's start is below its end, and exposed
// ports are unique and do not overlap (placeholders skipped).
func checkExpose(v any) error {
	doc, _ := v.(map[string]any)
	ops, _ := doc["ops"].([]any)
	for i, op := range ops {
		o, _ := op.(map[string]any)
		args, _ := o["args"].(map[string]any)
		exp, ok := args["expose"]
		if !ok {
			continue
		}
		path := fmt.Sprintf("$input.ops[%d].args.expose", i)
		bad := &InvalidError{Path: path, Reason: "Exposed ports must be unique, number ports must not fall within any defined port range, and port ranges must not overlap or be adjacent."}
		switch e := exp.(type) {
		case string:
			if m := portRange.FindStringSubmatch(e); m != nil && !rangeOK(m) {
				return &InvalidError{Path: path, Reason: "Port range must be in the format 'start:end' with start < end"}
			}
		case []any:
			var numbers []float64
			var ranges [][2]float64
			for _, el := range e {
				if s, ok := el.(string); ok && literal.MatchString(s) {
					continue
				}
				if m, ok := el.(map[string]any); ok {
					if _, ok := m["__spread__"]; ok {
						continue
					}
					el = m["port"]
				}
				switch p := el.(type) {
				case json.Number:
					f, _ := p.Float64()
					if slices.Contains(numbers, f) {
						return bad
					}
					numbers = append(numbers, f)
				case string:
					m := portRange.FindStringSubmatch(p)
					if m == nil || !rangeOK(m) {
						return &InvalidError{Path: path, Reason: "Port range must be in the format 'start:end' with start < end"}
					}
					a, _ := strconv.ParseFloat(m[1], 64)
					b, _ := strconv.ParseFloat(m[2], 64)
					for _, r := range ranges {
						if a <= r[1] && b >= r[0] {
							return bad
						}
					}
					ranges = append(ranges, [2]float64{a, b})
				}
			}
			for _, n := range numbers {
				for _, r := range ranges {
					if n >= r[0] && n <= r[1] {
						return bad
					}
				}
			}
		}
	}
	return nil
}

func rangeOK(m []string) bool {
	a, err1 := strconv.ParseFloat(m[1], 64)
	b, err2 := strconv.ParseFloat(m[2], 64)
	return err1 == nil && err2 == nil && a < b
}

// ref matches a reference to a secret inside a JSON string.
var ref = regexp.MustCompile(`%%secrets\.([^%]+)%%`)

// References lists the secret keys a template's strings refer to, sorted,
// each once. doc must be valid JSON.
func References(doc []byte) ([]string, error) {
	var keys []string
	_, err := rewrite(doc, func(s string) (string, error) {
		for _, m := range ref.FindAllStringSubmatch(s, -1) {
			keys = append(keys, m[1])
		}
		return s, nil
	})
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// Render replaces every %%secrets.KEY%% in the strings of a template with
// the JSON value values[KEY]: a string as is, any other value as its JSON
// text. It returns the names it could not resolve (sorted) instead of a
// definition when any is missing. Object keys and order are kept.
func Render(doc []byte, values map[string]json.RawMessage) ([]byte, []string, error) {
	var missing []string
	out, err := rewrite(doc, func(s string) (string, error) {
		return ref.ReplaceAllStringFunc(s, func(m string) string {
			key := m[len("%%secrets.") : len(m)-2]
			v, ok := values[key]
			if !ok {
				missing = append(missing, key)
				return m
			}
			var str string
			if json.Unmarshal(v, &str) == nil {
				return str
			}
			var b bytes.Buffer
			if json.Compact(&b, v) != nil {
				return string(v)
			}
			return b.String()
		}), nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, slices.Compact(missing), nil
	}
	return out, nil, nil
}

// rewrite re-encodes JSON text compactly, passing every string value (not
// object keys) through fn.
func rewrite(doc []byte, fn func(string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	enc := func(v any) {
		b, _ := json.Marshal(v)
		out.Write(b)
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		isKey := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if d, ok := tok.(json.Delim); !ok || (d != '}' && d != ']') {
				if top.object {
					isKey = top.n%2 == 0
					if top.n > 0 {
						if isKey {
							out.WriteByte(',')
						} else {
							out.WriteByte(':')
						}
					}
				} else if top.n > 0 {
					out.WriteByte(',')
				}
				top.n++
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(t))
			switch t {
			case '{':
				stack = append(stack, frame{object: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if !isKey {
				s, err := fn(t)
				if err != nil {
					return nil, err
				}
				t = s
			}
			enc(t)
		case json.Number:
			out.WriteString(t.String())
		default:
			enc(t)
		}
	}
	return out.Bytes(), nil
}

// EscapeName percent-encodes a definition name for a query: %20 for a
// space, as the placeholder names it.
func EscapeName(name string) string {
	return strings.ReplaceAll(url.QueryEscape(name), "+", "%20")
}

// FetchEndpoint is the URL the placeholder's logistics.send names.
func FetchEndpoint(publicURL, name string) string {
	return strings.TrimSuffix(publicURL, "/") + "/v1/jobs/%%global.job%%/job-definition?name=" + EscapeName(name)
}

// ResultsEndpoint is the URL the placeholder's logistics.receive names.
func ResultsEndpoint(publicURL string) string {
	return strings.TrimSuffix(publicURL, "/") + "/v1/jobs/%%global.job%%/results"
}

// Placeholder is the definition to post on chain for template name: no
// ops, the node fetching the real definition from this server and posting
// its result back here.
func Placeholder(publicURL, name, version string) json.RawMessage {
	if version == "" {
		version = "0.1"
	}
	type args struct {
		Endpoint string `json:"endpoint"`
	}
	type logistic struct {
		Type string `json:"type"`
		Args args   `json:"args"`
	}
	p := struct {
		Version   string `json:"version"`
		Type      string `json:"type"`
		Ops       []any  `json:"ops"`
		Logistics struct {
			Send    logistic `json:"send"`
			Receive logistic `json:"receive"`
		} `json:"logistics"`
	}{Version: version, Type: "container", Ops: []any{}}
	p.Logistics.Send = logistic{"api", args{FetchEndpoint(publicURL, name)}}
	p.Logistics.Receive = logistic{"api", args{ResultsEndpoint(publicURL)}}
	b, _ := json.Marshal(p)
	return b
}

// Endpoint returns logistics.<which>.args.endpoint of a job document when
// its type is "api", with the first %%global.job%% replaced by job, as the
// node does; ok is false when there is none.
func Endpoint(doc map[string]any, which, job string) (string, bool) {
	l, _ := doc["logistics"].(map[string]any)
	w, _ := l[which].(map[string]any)
	if t, _ := w["type"].(string); t != "api" {
		return "", false
	}
	a, _ := w["args"].(map[string]any)
	ep, ok := a["endpoint"].(string)
	if !ok {
		return "", false
	}
	return strings.Replace(ep, "%%global.job%%", job, 1), true
}
