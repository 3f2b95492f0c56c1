package server

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONStringMatchesEncodingJSON: listings write names as
// encoding/json does, byte for byte.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "a", "key-1/x:y.z", `a"b`, `a\b`, "<script>", "a&b", "tab\there", "\x7f", "é", "日本",
		"\u2028", "\xff", "\x00", "~!@#$%^*()_+{}|?[];',./`"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%+q: %s, want %s", s, got[1:], want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a<b")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%+q: %s, want %s", s, got, want)
		}
	})
}
