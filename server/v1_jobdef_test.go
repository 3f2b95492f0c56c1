package server_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
	"github.com/nosana-ci/nosana-secrets/server"
)

// nodeHeader builds Authorization as @nosana/sdk 0.4.69's
// generateHeader(job, {includeTime: true}) does: J, the base58 ed25519
// signature of J's UTF-8 bytes, and Date.now(), joined by ':'.
func nodeHeader(w authtest.Wallet, job string, at time.Time) string {
	sig := ed25519.Sign(w.Key, []byte(job))
	return job + ":" + base58.Encode(sig) + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}

const tmplDef = `{"version":"0.1","type":"container","meta":{"trigger":"cli"},"ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","cmd":["sh","-c","echo %%secrets.GREETING%%"],"env":{"TOKEN":"%%secrets.api/token%%","CFG":"%%secrets.cfg%%"}}}]}`

type jobdefEnv struct {
	*chainEnv
	project, node authtest.Wallet
	owner         string // the project's token
}

func newJobdefEnv(t *testing.T, mod func(*server.Options)) *jobdefEnv {
	je := &jobdefEnv{chainEnv: newChainEnvWith(t, mod), project: authtest.NewWallet(), node: authtest.NewWallet()}
	je.owner = je.login(je.project)
	r := je.do("POST", "/secrets", je.owner, `{"secrets":{"GREETING":"say \"hi\"","api/token":"t0k","cfg":{"a":[1,2]}}}`)
	if r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}
	return je
}

// putTemplate stores name and returns the placeholder.
func (je *jobdefEnv) putTemplate(name, def string) json.RawMessage {
	je.t.Helper()
	r := je.do("PUT", "/v1/job-definitions/"+url.PathEscape(name), je.owner, def)
	if r.status != 200 {
		je.t.Fatalf("put template: %d %s", r.status, r.body)
	}
	var b struct {
		Placeholder json.RawMessage `json:"placeholder"`
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Placeholder
}

// postJob puts a job of project on chain whose document is doc, claimed by
// node when node is set, in state.
func (je *jobdefEnv) postJob(project authtest.Wallet, doc []byte, node *authtest.Wallet, state uint8) solana.PublicKey {
	job := solanatest.NewKey()
	digest := je.gw.Add(doc)
	j := solana.Job{IPFSJob: digest, Project: pk(project), State: state, HasTimeout: true, Timeout: 3600}
	if node != nil && state >= solana.JobDone {
		j.Node, j.TimeEnd = pk(*node), je.now.Unix()
	}
	je.rpc.PutJob(job, je.program, j)
	if node != nil {
		je.rpc.PutRun(solanatest.NewKey(), je.program, solana.Run{Job: job, Node: pk(*node), Time: je.now.Unix()})
	}
	return job
}

func definitionPath(job solana.PublicKey, name string) string {
	return "/v1/jobs/" + job.String() + "/job-definition?name=" + strings.ReplaceAll(url.QueryEscape(name), "+", "%20")
}

func TestJobDefinitionFetch(t *testing.T) {
	je := newJobdefEnv(t, nil)
	ph := je.putTemplate("build step", tmplDef)
	var phDoc map[string]any
	if err := json.Unmarshal(ph, &phDoc); err != nil {
		t.Fatal(err)
	}
	send := phDoc["logistics"].(map[string]any)["send"].(map[string]any)["args"].(map[string]any)["endpoint"]
	if send != testAudience.URI+"/v1/jobs/%%global.job%%/job-definition?name=build%20step" {
		t.Fatalf("placeholder send endpoint %v", send)
	}
	job := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	je.rpc.ResetCalls()
	r := je.do("GET", definitionPath(job, "build step"), nodeHeader(je.node, job.String(), je.now), nil)
	if r.status != 200 {
		t.Fatalf("fetch: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.header)
	}
	var def struct {
		Type string `json:"type"`
		Ops  []struct {
			Args struct {
				Cmd []string          `json:"cmd"`
				Env map[string]string `json:"env"`
			} `json:"args"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(r.body, &def); err != nil || def.Type != "container" {
		t.Fatalf("answer %s: %v", r.body, err)
	}
	a := def.Ops[0].Args
	if a.Cmd[2] != `echo say "hi"` || a.Env["TOKEN"] != "t0k" || a.Env["CFG"] != `{"a":[1,2]}` {
		t.Errorf("resolved definition %s", r.body)
	}
	// Cold: the job account, the run account, the document.
	if n := je.rpc.Calls("getAccountInfo") + je.rpc.Calls("getProgramAccounts"); n != 2 || je.gw.Total() != 1 {
		t.Errorf("cold fetch: %d RPC calls, %d gateway calls", n, je.gw.Total())
	}
	je.rpc.ResetCalls()
	r = je.do("GET", definitionPath(job, "build step"), nodeHeader(je.node, job.String(), je.now), nil)
	if r.status != 200 {
		t.Fatalf("second fetch: %d %s", r.status, r.body)
	}
	if calls := je.rpc.Requests(); len(calls) != 1 || calls[0].Method != "getMultipleAccounts" || je.gw.Total() != 1 {
		t.Errorf("warm fetch: RPC %v, gateway %d in all", calls, je.gw.Total())
	}

	// The project's log names node, job, definition and version, and the
	// keys resolved; never a value.
	ev := je.waitEvent(t, "fetch")
	if ev["actor"] != je.node.Addr || ev["job"] != job.String() {
		t.Errorf("fetch event %v", ev)
	}
	keys := strings.Join(toStrings(ev["keys"]), ",")
	if keys != "job-definition:build step@v1,GREETING,api/token,cfg" || strings.Contains(string(mustJSON(ev)), "t0k") {
		t.Errorf("fetch event keys %s", keys)
	}
}

func (je *jobdefEnv) waitEvent(t *testing.T, action string) map[string]any {
	t.Helper()
	var found map[string]any
	eventuallyTrue(t, func() bool {
		r := je.do("GET", "/v1/audit?action="+action, je.owner, nil)
		var page struct {
			Items []map[string]any `json:"items"`
		}
		_ = json.Unmarshal(r.body, &page)
		if len(page.Items) > 0 {
			found = page.Items[0]
			return true
		}
		return false
	})
	return found
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// Every refusal the issue lists answers the node the same 403, and puts
// its reason in the project's audit log.
func TestJobDefinitionRefusals(t *testing.T) {
	je := newJobdefEnv(t, func(o *server.Options) { o.JobDefinitions.Fetches = 2 })
	ph := je.putTemplate("def", tmplDef)
	other := je.putTemplate("other", tmplDef)
	stranger := authtest.NewWallet()
	now := je.now

	running := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	stopped := je.postJob(je.project, ph, &je.node, solana.JobStopped) // its run account still visible
	done := je.postJob(je.project, ph, &je.node, solana.JobDone)
	unclaimed := je.postJob(je.project, ph, nil, solana.JobQueued)
	foreign := je.postJob(stranger, ph, &je.node, solana.JobQueued) // another project's job
	otherDef := je.postJob(je.project, other, &je.node, solana.JobQueued)
	evil := strings.ReplaceAll(string(ph), testAudience.URI, "https://evil.example")
	otherServer := je.postJob(je.project, []byte(evil), &je.node, solana.JobQueued)
	notJob := solanatest.NewKey()
	je.rpc.SetAccount(notJob, solanatest.Account{Owner: solanatest.SystemProgram, Data: []byte{1, 2, 3}})

	ownerTok := je.owner
	jobTok, _, _ := je.tokens.Issue(auth.Claims{Address: je.node.Addr, UserAddress: je.project.Addr, Secrets: []string{"GREETING"}, Job: running.String()}, time.Time{})
	otherMsg := ed25519.Sign(je.node.Key, []byte("nosana_secret_"+strconv.FormatInt(now.Unix(), 10)))

	cases := []struct {
		name   string
		job    solana.PublicKey
		def    string
		header string
	}{
		{"wrong node", running, "def", nodeHeader(stranger, running.String(), now)},
		{"claimed then stopped", stopped, "def", nodeHeader(je.node, stopped.String(), now)},
		{"finished", done, "def", nodeHeader(je.node, done.String(), now)},
		{"unclaimed", unclaimed, "def", nodeHeader(je.node, unclaimed.String(), now)},
		{"another project's job", foreign, "def", nodeHeader(je.node, foreign.String(), now)},
		{"document names another definition", otherDef, "def", nodeHeader(je.node, otherDef.String(), now)},
		{"document names another server", otherServer, "def", nodeHeader(je.node, otherServer.String(), now)},
		{"stale time", running, "def", nodeHeader(je.node, running.String(), now.Add(-2*time.Minute))},
		{"future time", running, "def", nodeHeader(je.node, running.String(), now.Add(2*time.Minute))},
		{"time not numeric", running, "def", strings.TrimSuffix(nodeHeader(je.node, running.String(), now), "0") + "x"},
		{"no time", running, "def", strings.Join(strings.Split(nodeHeader(je.node, running.String(), now), ":")[:2], ":")},
		{"header for another job", running, "def", nodeHeader(je.node, done.String(), now)},
		{"no header", running, "def", ""},
		{"owner token", running, "def", ownerTok},
		{"job token", running, "def", "Bearer " + jobTok},
		{"signature over something else", running, "def", running.String() + ":" + base58.Encode(otherMsg) + ":" + strconv.FormatInt(now.UnixMilli(), 10)},
		{"not a job account", notJob, "def", nodeHeader(je.node, notJob.String(), now)},
		{"no such definition", running, "nope", nodeHeader(je.node, running.String(), now)},
	}
	var first []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := je.do("GET", definitionPath(tc.job, tc.def), tc.header, nil)
			if r.status != 403 || r.json(t)["code"] != errcode.JobRefused {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if first == nil {
				first = r.body
			} else if string(r.body) != string(first) {
				t.Errorf("body %s differs from %s", r.body, first)
			}
			if strings.Contains(string(r.body), "t0k") {
				t.Errorf("a value in a refusal: %s", r.body)
			}
		})
	}
	// The reasons are in the project's log (not the caller's answer).
	ev := je.waitEvent(t, "denied")
	if k, r := toStrings(ev["keys"]), ev["reason"]; len(k) != 1 || r == nil || r == "" {
		t.Errorf("denied event %v", ev)
	}
	if !strings.Contains(je.logs.String(), "node route refused") {
		t.Error("no refusal in the server log")
	}

	// The fetch bound: 2 answered, then the same valid header is refused.
	h := nodeHeader(je.node, running.String(), now)
	for i := 0; i < 2; i++ {
		if r := je.do("GET", definitionPath(running, "def"), h, nil); r.status != 200 {
			t.Fatalf("fetch %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := je.do("GET", definitionPath(running, "def"), h, nil); r.status != 403 {
		t.Fatalf("replay past the bound: %d %s", r.status, r.body)
	}
}

func TestJobDefinitionUnresolvedAndUnavailable(t *testing.T) {
	je := newJobdefEnv(t, func(o *server.Options) { o.JobDefinitions.Fetches = 1 })
	ph := je.putTemplate("def", strings.Replace(tmplDef, "%%secrets.cfg%%", "%%secrets.MISSING_KEY%%", 1))
	job := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	h := nodeHeader(je.node, job.String(), je.now)
	for i := 0; i < 2; i++ { // a 409 does not count toward the bound
		r := je.do("GET", definitionPath(job, "def"), h, nil)
		if r.status != 409 || r.json(t)["code"] != errcode.DefinitionUnresolved || strings.Contains(string(r.body), "MISSING_KEY") {
			t.Fatalf("unresolved: %d %s", r.status, r.body)
		}
	}
	ev := je.waitEvent(t, "denied")
	if !slices.Contains(toStrings(ev["keys"]), "MISSING_KEY") {
		t.Errorf("the missing name is not in the log: %v", ev)
	}
	je.do("POST", "/secrets", je.owner, `{"secrets":{"MISSING_KEY":"here"}}`)
	if r := je.do("GET", definitionPath(job, "def"), h, nil); r.status != 200 {
		t.Fatalf("after the secret was set: %d %s", r.status, r.body)
	}

	job2 := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	je.rpc.SetFailure(solanatest.FailHTTP500)
	r := je.do("GET", definitionPath(job2, "def"), nodeHeader(je.node, job2.String(), je.now), nil)
	je.rpc.SetFailure(solanatest.FailNone)
	if r.status != 503 {
		t.Fatalf("RPC down: %d %s", r.status, r.body)
	}
	// The gateway down, for a document not cached yet (another one).
	fresh := strings.Replace(string(ph), `"ops":[]`, `"ops":[],"meta":{"n":1}`, 1)
	job3 := je.postJob(je.project, []byte(fresh), &je.node, solana.JobQueued)
	je.gw.SetFailure(http.StatusBadGateway)
	r = je.do("GET", definitionPath(job3, "def"), nodeHeader(je.node, job3.String(), je.now), nil)
	je.gw.SetFailure(0)
	if r.status != 503 {
		t.Fatalf("gateway down: %d %s", r.status, r.body)
	}
	if r := je.do("GET", definitionPath(job3, "def"), nodeHeader(je.node, job3.String(), je.now), nil); r.status != 200 {
		t.Fatalf("gateway back: %d %s", r.status, r.body)
	}
}

func TestJobResults(t *testing.T) {
	je := newJobdefEnv(t, nil)
	ph := je.putTemplate("def", tmplDef)
	job := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	path := "/v1/jobs/" + job.String() + "/results"
	result := `{"status":"success","startTime":1,"endTime":2,"opStates":[{"operationId":"run","logs":[{"type":"stdout","log":"hi"}]}]}`
	h := nodeHeader(je.node, job.String(), je.now)

	if r := je.do("POST", path, nodeHeader(authtest.NewWallet(), job.String(), je.now), result); r.status != 403 {
		t.Fatalf("stranger's result: %d %s", r.status, r.body)
	}
	if r := je.do("POST", path, je.owner, result); r.status != 403 {
		t.Fatalf("owner token on the node route: %d %s", r.status, r.body)
	}
	for i := 1; i <= 4; i++ {
		r := je.do("POST", path, h, result)
		if r.status != 200 || r.json(t)["version"] != float64(i) {
			t.Fatalf("post %d: %d %s", i, r.status, r.body)
		}
	}
	if r := je.do("POST", path, h, result); r.status != 403 {
		t.Fatalf("fifth post: %d %s", r.status, r.body)
	}
	r := je.do("GET", "/v1/secrets/"+url.PathEscape("jobs/"+job.String()+"/results"), je.owner, nil)
	if r.status != 200 || !jsonEqual(t, mustJSON(r.json(t)["value"]), []byte(result)) {
		t.Fatalf("stored result: %d %s", r.status, r.body)
	}
	r = je.do("GET", "/v1/secrets/"+url.PathEscape("jobs/"+job.String()+"/results")+"/versions", je.owner, nil)
	if n := len(r.json(t)["items"].([]any)); n > 4 {
		t.Errorf("%d versions kept", n)
	}

	// After the job ended: its recorded node, within the window.
	done := je.postJob(je.project, ph, &je.node, solana.JobDone)
	if r := je.do("POST", "/v1/jobs/"+done.String()+"/results", nodeHeader(je.node, done.String(), je.now), result); r.status != 200 {
		t.Fatalf("result after the end: %d %s", r.status, r.body)
	}
	late := je.postJob(je.project, ph, &je.node, solana.JobDone)
	acc := solana.Job{IPFSJob: ipfstest.Digest(ph), Project: pk(je.project), Node: pk(je.node), State: solana.JobDone, TimeEnd: je.now.Add(-2 * time.Hour).Unix()}
	je.rpc.PutJob(late, je.program, acc)
	if r := je.do("POST", "/v1/jobs/"+late.String()+"/results", nodeHeader(je.node, late.String(), je.now), result); r.status != 403 {
		t.Fatalf("result past the window: %d %s", r.status, r.body)
	}
	ev := je.waitEvent(t, "result")
	if ev["actor"] != je.node.Addr {
		t.Errorf("result event %v", ev)
	}
}

func TestJobDefinitionTemplates(t *testing.T) {
	je := newJobdefEnv(t, nil)
	// A template the node would refuse, with the validator's path.
	r := je.do("PUT", "/v1/job-definitions/bad", je.owner, `{"version":"0.1","type":"container","ops":[{"type":"container/run","id":"x","args":{"image":"u","env":{"A":1}}}]}`)
	if m := r.json(t); r.status != 400 || m["code"] != errcode.InvalidJobDefinition || m["path"] != "$input.ops[0].args.env.A" || m["reason"] == "" {
		t.Fatalf("invalid template: %d %s", r.status, r.body)
	}
	usage := func() (secrets, bytes float64) {
		u := je.do("GET", "/v1/whoami", je.owner, nil).json(t)["usage"].(map[string]any)
		return u["secrets"].(float64), u["bytes"].(float64)
	}
	n0, b0 := usage()
	je.putTemplate("a b", tmplDef)
	// A template counts in the owner's quota like a secret.
	if n1, b1 := usage(); n1 != n0+1 || b1 <= b0 {
		t.Errorf("usage %v keys %v bytes after a template, before %v %v", n1, b1, n0, b0)
	}
	r = je.do("PUT", "/v1/job-definitions/a%20b", je.owner, tmplDef)
	if r.status != 200 || r.json(t)["version"] != float64(2) {
		t.Fatalf("second put: %d %s", r.status, r.body)
	}
	r = je.do("GET", "/v1/job-definitions/a%20b", je.owner, nil)
	if m := r.json(t); r.status != 200 || m["name"] != "a b" || strings.Join(toStrings(m["secrets"]), ",") != "GREETING,api/token,cfg" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r = je.do("GET", "/v1/job-definitions", je.owner, nil)
	if items := r.json(t)["items"].([]any); r.status != 200 || len(items) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// Templates are neither secrets nor reachable as secrets.
	r = je.do("GET", "/v1/secrets", je.owner, nil)
	if strings.Contains(string(r.body), "jobdef") {
		t.Errorf("a template in the secret listing: %s", r.body)
	}
	r = je.do("GET", "/secrets", je.owner, nil)
	if strings.Contains(string(r.body), "jobdef") {
		t.Errorf("a template in the legacy listing: %s", r.body)
	}
	if r := je.do("GET", "/v1/secrets/%1Fjobdef%2Fa%20b", je.owner, nil); r.status != 400 {
		t.Errorf("reserved key read: %d %s", r.status, r.body)
	}
	if r := je.do("POST", "/secrets", je.owner, map[string]any{"secrets": map[string]string{"\x1fjobdef/a b": "x"}}); r.status != 400 {
		t.Errorf("reserved key write: %d %s", r.status, r.body)
	}
	// A job token cannot use the routes.
	jobTok, _, _ := je.tokens.Issue(auth.Claims{Address: je.node.Addr, UserAddress: je.project.Addr, Secrets: []string{"\x1fjobdef/a b"}, Job: "J"}, time.Time{})
	if r := je.do("GET", "/v1/job-definitions/a%20b", "Bearer "+jobTok, nil); r.status != 403 {
		t.Errorf("job token: %d %s", r.status, r.body)
	}
	if r := je.do("GET", "/secrets", "Bearer "+jobTok, nil); strings.Contains(string(r.body), "jobdef") {
		t.Errorf("job token listed a template: %s", r.body)
	}
	if r := je.do("DELETE", "/v1/job-definitions/a%20b", je.owner, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := je.do("GET", "/v1/job-definitions/a%20b", je.owner, nil); r.status != 404 || r.json(t)["code"] != errcode.DefinitionNotFound {
		t.Fatalf("after delete: %d %s", r.status, r.body)
	}
}

// TestJobDefinitionOpenAPI drives each job-definition route to a success
// and a refusal, every answer checked against openapi.json.
func TestJobDefinitionOpenAPI(t *testing.T) {
	je := newJobdefEnv(t, nil)
	ph := je.putTemplate("d", tmplDef)
	job := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	h := nodeHeader(je.node, job.String(), je.now)
	for _, c := range []struct {
		method, path, auth string
		body               any
	}{
		{"PUT", "/v1/job-definitions/d", je.owner, `{"version":"0.1","type":"container","ops":[],"x":1}`},
		{"PUT", "/v1/job-definitions/d", "", tmplDef},
		{"GET", "/v1/job-definitions/d", je.owner, nil},
		{"GET", "/v1/job-definitions/nope", je.owner, nil},
		{"GET", "/v1/job-definitions", je.owner, nil},
		{"GET", "/v1/job-definitions", "", nil},
		{"GET", definitionPath(job, "d"), h, nil},
		{"GET", definitionPath(job, "d"), "", nil},
		{"POST", "/v1/jobs/" + job.String() + "/results", h, `{"status":"success"}`},
		{"POST", "/v1/jobs/" + job.String() + "/results", "", `{}`},
		{"DELETE", "/v1/job-definitions/d", je.owner, nil},
		{"DELETE", "/v1/job-definitions/d", je.owner, nil},
	} {
		je.do(c.method, c.path, c.auth, c.body)
	}
	je.wantSuccessAndRefusal(t, func(path string) bool { return strings.HasPrefix(path, "/v1/job") })
}

// TestJobDefinitionFetchBoundAcrossReplicas: two servers on one store share
// the fetch bound (the store's counter), so a replayed header gains
// nothing by going to another replica.
func TestJobDefinitionFetchBoundAcrossReplicas(t *testing.T) {
	var opts server.Options
	je := newJobdefEnv(t, func(o *server.Options) { o.JobDefinitions.Fetches = 3; opts = *o })
	other, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	replica := httptest.NewServer(other.Handler())
	t.Cleanup(replica.Close)
	ph := je.putTemplate("def", tmplDef)
	job := je.postJob(je.project, ph, &je.node, solana.JobQueued)
	h := nodeHeader(je.node, job.String(), je.now)
	var got []int
	for i := 0; i < 5; i++ {
		url := je.url
		if i%2 == 1 {
			url = replica.URL
		}
		req, _ := http.NewRequest("GET", url+definitionPath(job, "def"), nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got = append(got, res.StatusCode)
	}
	if !slices.Equal(got, []int{200, 200, 200, 403, 403}) {
		t.Errorf("statuses %v over two replicas, want three answers then refusals", got)
	}
}
