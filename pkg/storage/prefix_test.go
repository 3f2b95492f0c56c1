package storage

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, end string
		ok          bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"abc", "abd", true},
		{"a/", "a0", true},
		{"%", "&", true},
		{"\x7f", "\u0080", true},
		{"é", "ê", true},
		{"\u00bf", "\u00c0", true}, // a byte-wise increment would give invalid C2 C0
		{"\u07ff", "\u0800", true},
		{"\uffff", "\U00010000", true},
		{"x\ud7ff", "x\ue000", true}, // skip the surrogates
		{"x\U0010ffff", "y", true},
		{"x\U0010ffff\U0010ffff", "y", true},
		{"\U0010ffff", "", false},
		{"\U0010ffff\U0010ffff", "", false},
		{"日本", "日\u672d", true},
		// Invalid UTF-8 falls back to bytes.
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"a\x80", "a\x81", true},
	}
	for _, tt := range tests {
		end, ok := PrefixEnd(tt.prefix)
		if end != tt.end || ok != tt.ok {
			t.Errorf("PrefixEnd(%+q) = %+q, %v; want %+q, %v", tt.prefix, end, ok, tt.end, tt.ok)
		}
	}
}

// FuzzPrefixEnd checks the defining property: for valid UTF-8, end is valid
// UTF-8, prefix < end, and every string starting with prefix sorts below end.
func FuzzPrefixEnd(f *testing.F) {
	for _, s := range []string{"", "a", "é", "\U0010ffff", "x\ud7ff", "a\xff", "\u00bf"} {
		f.Add(s, "tail")
	}
	f.Fuzz(func(t *testing.T, prefix, tail string) {
		end, ok := PrefixEnd(prefix)
		if !ok {
			// Only two kinds of prefix have no bound: valid UTF-8 made of
			// U+10FFFF alone (or empty), and invalid UTF-8 made of 0xFF bytes.
			maxRunes := utf8.ValidString(prefix) && strings.Trim(prefix, "\U0010ffff") == ""
			if !maxRunes && strings.Count(prefix, "\xff") != len(prefix) {
				t.Fatalf("PrefixEnd(%+q) has no bound", prefix)
			}
			return
		}
		if utf8.ValidString(prefix) && !utf8.ValidString(end) {
			t.Fatalf("PrefixEnd(%+q) = %+q, not valid UTF-8", prefix, end)
		}
		if !(prefix < end) {
			t.Fatalf("PrefixEnd(%+q) = %+q, not above the prefix", prefix, end)
		}
		if s := prefix + tail; !(s < end) {
			t.Fatalf("%+q starts with %+q but is not below %+q", s, prefix, end)
		}
		if strings.HasPrefix(end, prefix) {
			t.Fatalf("PrefixEnd(%+q) = %+q starts with the prefix", prefix, end)
		}
	})
}

func TestCheckName(t *testing.T) {
	good := []string{"a", "a ", " a", "a/b:c", "日本", strings.Repeat("x", MaxNameLen), "%_*[\\'"}
	for _, s := range good {
		if err := CheckName("name", s); err != nil {
			t.Errorf("CheckName(%+q) = %v", s, err)
		}
	}
	bad := []string{"", strings.Repeat("x", MaxNameLen+1), "a\x00b", "\xff"}
	for _, s := range bad {
		if err := CheckName("name", s); err == nil {
			t.Errorf("CheckName(%.20q) accepted", s)
		}
	}
}

func TestDedupe(t *testing.T) {
	got := Dedupe([]Item{{"b", []byte("1")}, {"a", nil}, {"b", []byte("2")}})
	if len(got) != 2 || got[0].Name != "a" || got[0].Value == nil || got[1].Name != "b" || string(got[1].Value) != "2" {
		t.Fatalf("Dedupe = %+q", got)
	}
}
