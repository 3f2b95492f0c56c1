package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		stored, want string
		expired      bool
		err          error
	}{
		{`{"value":"hello","expires":null}`, `"hello"`, false, nil},
		{`{"value":null,"expires":null}`, `null`, false, nil},
		{`{"value":"","expires":null}`, `""`, false, nil},
		{`{"value":12345678901234567000,"expires":null}`, `12345678901234567000`, false, nil},
		{`{"value":6.02e+23,"expires":null}`, `6.02e+23`, false, nil},
		{`{"value":"::starts-with-colon","expires":null}`, `":starts-with-colon"`, false, nil},
		{`{"value":"::base64:aGVsbG8=","expires":null}`, `":base64:aGVsbG8="`, false, nil},
		{`{"value":{"::k":"::v","arr":["::x"]},"expires":null}`, `{":k":":v","arr":[":x"]}`, false, nil},
		{`{"value":{"2":"two","10":"ten","z":1},"expires":null}`, `{"2":"two","10":"ten","z":1}`, false, nil},
		{`{"value":"a\"::b\\","expires":null}`, `"a\"::b\\"`, false, nil},
		{`{"value":"line\nnext","expires":null}`, `"line\nnext"`, false, nil},
		{`{"value":{"k":{"::":[":"]}},"expires":null}`, `{"k":{":":[""]}}`, false, nil},
		{`{ "value" : [ 1 , "::x" ] , "expires" : null }`, `[1,":x"]`, false, nil},
		{`{"value":"x","expires":1699999999999}`, ``, true, nil},
		{`{"value":"x","expires":1700000000001}`, `"x"`, false, nil},
		{`{"value":":base64:aGVsbG8=","expires":null}`, ``, false, ErrBinary},
		{`{"expires":null}`, ``, false, ErrEnvelope},
		{`"just a string"`, ``, false, ErrEnvelope},
		{`not json`, ``, false, ErrEnvelope},
		{"{\"value\":\"\xff\",\"expires\":null}", ``, false, ErrEnvelope},
		{``, ``, false, ErrEnvelope},
	} {
		got, expired, err := Decode([]byte(tc.stored), now)
		if !errors.Is(err, tc.err) || expired != tc.expired || string(got) != tc.want {
			t.Errorf("Decode(%s) = %s, %v, %v; want %s, %v, %v", tc.stored, got, expired, err, tc.want, tc.expired, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "aGVsbG8") {
			t.Errorf("error %q shows the value", err)
		}
	}
}

func TestSplitKey(t *testing.T) {
	const a = "8GgqkNapEcUdHXyxmWSgj359xxWUxkrJU6HveTRYrkPn"
	for _, tc := range []struct {
		key, owner, name string
		err              error
	}{
		{a + ":name", a, "name", nil},
		{a + ":a:b:c", a, "a:b:c", nil},
		{a + ":ci/DEPLOY_TOKEN", a, "ci/DEPLOY_TOKEN", nil},
		{a + ":" + strings.Repeat("x", 512), a, strings.Repeat("x", 512), nil},
		{a + ":" + strings.Repeat("x", 513), a, strings.Repeat("x", 513), ErrName},
		{a + ":", a, "", ErrName},
		{a + ":\xff", a, "\xff", ErrName},
		{a + ":nul\x00", a, "nul\x00", ErrName},
		{"nocolon", "", "", ErrAddress},
		{"notbase58!:x", "notbase58!", "x", ErrAddress},
		{"3mJr7AoUXx2Wqd:x", "3mJr7AoUXx2Wqd", "x", ErrAddress}, // base58, not 32 bytes
		{"namespace:" + a, "namespace", a, ErrAddress},
	} {
		owner, name, err := SplitKey(tc.key)
		if owner != tc.owner || name != tc.name || !errors.Is(err, tc.err) {
			t.Errorf("SplitKey(%q) = %q, %q, %v; want %q, %q, %v", tc.key, owner, name, err, tc.owner, tc.name, tc.err)
		}
	}
}

// escape is json-buffer 3's stringify escaping, for valid compact JSON: one
// more ':' before every string (value or key) that starts with ':'.
func escape(in []byte) []byte {
	var out []byte
	for i := 0; i < len(in); i++ {
		out = append(out, in[i])
		if in[i] == '"' {
			end := stringEnd(in, i)
			if end > i+1 && in[i+1] == ':' {
				out = append(out, ':')
			}
			out = append(out, in[i+1:end+1]...)
			i = end
		}
	}
	return out
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`":x"`, `{":k":[":v",{"::":1}]}`, `[1,2.5e10,null,true,"a\"b"]`, `"\u003a"`, `{"":""}`, `":base64:x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Unescape(in)
		if !json.Valid(in) {
			if err == nil {
				t.Fatalf("Unescape(%q) accepted invalid JSON", in)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrBinary) {
				t.Fatalf("Unescape(%q): %v", in, err)
			}
			return
		}
		if !json.Valid(got) {
			t.Fatalf("Unescape(%q) = %q, not JSON", in, got)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, in)
		// What json-buffer wrote from this value comes back as it was.
		back, err := Unescape(escape(compact.Bytes()))
		if err != nil || !bytes.Equal(back, compact.Bytes()) {
			t.Fatalf("Unescape(escape(%q)) = %q, %v", compact.Bytes(), back, err)
		}
	})
}
