package jobdef_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/jobdef"
)

const base = `{"version":"0.1","type":"container","meta":{"trigger":"cli","x":{"y":1}},"ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","cmd":["echo","%%secrets.GREETING%%"],"env":{"TOKEN":"%%secrets.api/token%%","CFG":"%%secrets.cfg%%"}}}]}`

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, doc, path string
	}{
		{"base", base, ""},
		{"placeholder", string(jobdef.Placeholder("https://s.example.com", "my def", "")), ""},
		{"unknown top", `{"version":"0.1","type":"container","ops":[],"foo":1}`, "$input"},
		{"unknown arg", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","zz":1}}]}`, "$input.ops[0].args"},
		{"wrong type", `{"version":"0.1","type":"vm","ops":[]}`, "$input.type"},
		{"no ops", `{"version":"0.1","type":"container"}`, "$input"},
		{"bad range", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","expose":"9-3"}}]}`, "$input.ops[0].args.expose"},
		{"dup ports", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","expose":[80,80]}}]}`, "$input.ops[0].args.expose"},
		{"env number", `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","env":{"A":1}}}]}`, "$input.ops[0].args.env.A"},
		{"array", `[]`, "$input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := jobdef.Validate([]byte(tc.doc))
			if tc.path == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *jobdef.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an InvalidError at %s", err, tc.path)
			}
			if ie.Path != tc.path || ie.Reason == "" {
				t.Errorf("got %q (%s), want path %q", ie.Path, ie.Reason, tc.path)
			}
		})
	}
}

func TestRender(t *testing.T) {
	keys, err := jobdef.References([]byte(base))
	if err != nil || !slices.Equal(keys, []string{"GREETING", "api/token", "cfg"}) {
		t.Fatalf("References = %v, %v", keys, err)
	}
	vals := map[string]json.RawMessage{
		"GREETING":  json.RawMessage(`"say \"hi\"\n"`),
		"api/token": json.RawMessage(`"t0k"`),
		"cfg":       json.RawMessage(`{"a": [1, 2]}`),
	}
	out, missing, err := jobdef.Render([]byte(base), vals)
	if err != nil || missing != nil {
		t.Fatal(err, missing)
	}
	var got struct {
		Ops []struct {
			Args struct {
				Cmd []string          `json:"cmd"`
				Env map[string]string `json:"env"`
			} `json:"args"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	a := got.Ops[0].Args
	if a.Cmd[1] != "say \"hi\"\n" || a.Env["TOKEN"] != "t0k" || a.Env["CFG"] != `{"a":[1,2]}` {
		t.Errorf("rendered %s", out)
	}
	if err := jobdef.Validate(out); err != nil {
		t.Errorf("rendered definition refused: %v", err)
	}
	delete(vals, "cfg")
	if _, missing, _ := jobdef.Render([]byte(base), vals); !slices.Equal(missing, []string{"cfg"}) {
		t.Errorf("missing = %v", missing)
	}
}

func TestPlaceholderEndpoint(t *testing.T) {
	p := jobdef.Placeholder("https://s.example.com/", "a b+c", "")
	var doc map[string]any
	if err := json.Unmarshal(p, &doc); err != nil {
		t.Fatal(err)
	}
	ep, ok := jobdef.Endpoint(doc, "send", "JOB")
	if !ok || ep != "https://s.example.com/v1/jobs/JOB/job-definition?name=a%20b%2Bc" {
		t.Errorf("send endpoint %q", ep)
	}
	if ep, _ := jobdef.Endpoint(doc, "receive", "JOB"); ep != "https://s.example.com/v1/jobs/JOB/results" {
		t.Errorf("receive endpoint %q", ep)
	}
}

// A value that looks like a reference is not expanded again: one secret
// cannot pull in another the template does not name.
func TestRenderOnce(t *testing.T) {
	out, missing, err := jobdef.Render([]byte(`{"a":"%%secrets.X%%"}`), map[string]json.RawMessage{
		"X": json.RawMessage(`"%%secrets.Y%%"`), "Y": json.RawMessage(`"leak"`)})
	if err != nil || missing != nil || string(out) != `{"a":"%%secrets.Y%%"}` {
		t.Errorf("Render = %s %v %v", out, missing, err)
	}
}
