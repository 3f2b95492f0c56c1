package solana

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mr-tron/base58"
)

// The two JSON-RPC calls the job checks make, over net/http.

// httpError is an answer with a status other than 200.
type httpError struct{ Code int }

func (e *httpError) Error() string { return fmt.Sprintf("HTTP status %d", e.Code) }

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

type rpcAccount struct {
	Data  [2]string `json:"data"` // [base64, "base64"]
	Owner PublicKey `json:"owner"`
}

func (a *rpcAccount) bytes() ([]byte, error) {
	if a.Data[1] != "base64" {
		return nil, fmt.Errorf("account data encoded as %q, want base64", a.Data[1])
	}
	return base64.StdEncoding.DecodeString(a.Data[0])
}

type keyedAccount struct {
	Pubkey  PublicKey   `json:"pubkey"`
	Account *rpcAccount `json:"account"`
}

type memcmpFilter struct {
	Memcmp struct {
		Offset int    `json:"offset"`
		Bytes  string `json:"bytes"`
	} `json:"memcmp"`
}

func memcmp(off int, b []byte) memcmpFilter {
	var f memcmpFilter
	f.Memcmp.Offset, f.Memcmp.Bytes = off, base58.Encode(b)
	return f
}

// call posts one JSON-RPC request and decodes its result into out.
func (c *Client) call(ctx context.Context, method string, params []any, out any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &httpError{Code: resp.StatusCode}
	}
	var answer struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return fmt.Errorf("malformed JSON-RPC answer: %w", err)
	}
	if answer.Error != nil {
		return answer.Error
	}
	if err := json.Unmarshal(answer.Result, out); err != nil {
		return fmt.Errorf("malformed %s result: %w", method, err)
	}
	return nil
}
