package solanatest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/solana"
	"github.com/nosana-ci/nosana-secrets/pkg/solana/solanatest"
)

var program = solana.MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM")

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnswerShapes(t *testing.T) {
	s := solanatest.NewServer(t)
	addr := solana.MustPublicKeyFromBase58("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF")
	s.SetAccount(addr, solanatest.Account{Owner: program, Lamports: 42, Data: []byte{1, 2, 3}})

	_, got := post(t, s.URL, `{"jsonrpc":"2.0","id":7,"method":"getAccountInfo","params":["`+addr.String()+`",{"encoding":"base64","commitment":"confirmed"}]}`)
	want := `{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":340000001},"value":{"data":["AQID","base64"],` +
		`"executable":false,"lamports":42,"owner":"nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM","rentEpoch":18446744073709551615,"space":3}},"id":7}`
	if got != want {
		t.Errorf("getAccountInfo:\n got %s\nwant %s", got, want)
	}

	_, got = post(t, s.URL, `{"jsonrpc":"2.0","id":"x","method":"getAccountInfo","params":["11111111111111111111111111111112"]}`)
	if !strings.Contains(got, `"value":null`) || !strings.HasSuffix(got, `"id":"x"}`) {
		t.Errorf("missing account: %s", got)
	}

	_, got = post(t, s.URL, `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["`+addr.String()+`"]}`)
	if !strings.Contains(got, `"data":["Ldp","base58"]`) {
		t.Errorf("default encoding is base58: %s", got)
	}

	for body, code := range map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[]}`:           `"code":-32601`,
		`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["0OIl"]}`: `"code":-32602`,
		`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["abcd"]}`: `"code":-32602`,
		`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":"x"}`:      `"code":-32602`,
		`not json`: `"code":-32700`,
	} {
		if status, got := post(t, s.URL, body); status != 200 || !strings.Contains(got, code) {
			t.Errorf("%s: %d %s, want %s", body, status, got, code)
		}
	}
	if n := s.Calls("getAccountInfo"); n != 6 {
		t.Errorf("Calls(getAccountInfo) = %d, want 6", n)
	}
	if n := s.Calls("getBalance"); n != 1 {
		t.Errorf("Calls(getBalance) = %d, want 1", n)
	}
}

func TestProgramAccountsFilters(t *testing.T) {
	s := solanatest.NewServer(t)
	job := solana.MustPublicKeyFromBase58("FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF")
	runA := solana.MustPublicKeyFromBase58("11111111111111111111111111111112")
	runB := solana.MustPublicKeyFromBase58("11111111111111111111111111111113")
	s.PutRun(runA, program, solana.Run{Job: job, Time: 1})
	s.PutRun(runB, program, solana.Run{Job: solanatest.SystemProgram, Time: 2})
	s.PutRun(solana.MustPublicKeyFromBase58("11111111111111111111111111111114"), solanatest.SystemProgram, solana.Run{Job: job})
	s.PutJob(job, program, solana.Job{})

	query := func(filters string) []string {
		t.Helper()
		_, body := post(t, s.URL, `{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["`+program.String()+
			`",{"encoding":"base64","commitment":"confirmed","filters":`+filters+`}]}`)
		var resp struct {
			Result []struct {
				Pubkey  string
				Account struct {
					Data  [2]string
					Owner string
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var keys []string
		for _, r := range resp.Result {
			if r.Account.Owner != program.String() || r.Account.Data[1] != "base64" {
				t.Errorf("account %s: owner %s, encoding %s", r.Pubkey, r.Account.Owner, r.Account.Data[1])
			}
			keys = append(keys, r.Pubkey)
		}
		return keys
	}
	b64 := base64.StdEncoding.EncodeToString
	for filters, want := range map[string]string{
		`[]`: runA.String() + "," + runB.String() + "," + job.String(),
		`[{"memcmp":{"offset":0,"bytes":"ZZTu8o6YwNM"}}]`:                                                        runA.String() + "," + runB.String(),
		`[{"memcmp":{"offset":0,"bytes":"ZZTu8o6YwNM"}},{"memcmp":{"offset":8,"bytes":"` + job.String() + `"}}]`: runA.String(),
		`[{"memcmp":{"offset":8,"bytes":"` + b64(job[:]) + `","encoding":"base64"}}]`:                            runA.String(),
		`[{"dataSize":113}]`:                      runA.String() + "," + runB.String(),
		`[{"dataSize":225}]`:                      job.String(),
		`[{"memcmp":{"offset":500,"bytes":"2"}}]`: "",
	} {
		if got := strings.Join(query(filters), ","); got != want {
			t.Errorf("filters %s:\n got %s\nwant %s", filters, got, want)
		}
	}

	_, body := post(t, s.URL, `{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["`+program.String()+`",{"encoding":"base64","filters":[{"memcmp":{"offset":0,"bytes":"0OIl"}}]}]}`)
	if !strings.Contains(body, `"code":-32602`) {
		t.Errorf("bad memcmp bytes: %s", body)
	}
	_, body = post(t, s.URL, `{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["`+program.String()+`",{"encoding":"base64","filters":[]}]}`)
	if !strings.Contains(body, `"result":[{"account":{"data":[`) {
		t.Errorf("getProgramAccounts shape: %s", body)
	}
}
