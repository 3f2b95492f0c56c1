package ipfs_test

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
)

func TestCIDVectors(t *testing.T) {
	v := vectors.Load(t)
	if len(v.IPFSCID) == 0 {
		t.Fatal("vectors.json has no ipfs_cid entries")
	}
	for _, tc := range v.IPFSCID {
		b, err := hex.DecodeString(tc.OnchainHex)
		if err != nil || len(b) != 32 {
			t.Fatalf("bad vector %q", tc.OnchainHex)
		}
		if got := ipfs.CID([32]byte(b)); got != tc.CID {
			t.Errorf("CID(%s) = %s, want %s", tc.OnchainHex, got, tc.CID)
		}
	}
}

func TestGrantsVectors(t *testing.T) {
	v := vectors.Load(t)
	for name, want := range map[string][]string{
		"job":                {"pipeline1-ssh-key"},
		"job_top_level_form": {"pipeline1-ssh-key"},
		"result":             {"<job address>/result"},
	} {
		doc, err := ipfs.ParseDocument(v.JobJSONExamples[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ipfs.Grants(doc); !slices.Equal(got, want) {
			t.Errorf("%s: Grants = %q, want %q", name, got, want)
		}
	}
}

func TestGrants(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"state form", `{"state":{"nosana/secrets":["a","b/c"]}}`, []string{"a", "b/c"}},
		{"top-level form", `{"secrets":["a","b"]}`, []string{"a", "b"}},
		{"state wins over top level", `{"state":{"nosana/secrets":["a"]},"secrets":["b"]}`, []string{"a"}},
		{"neither", `{"type":"Github"}`, []string{}},
		{"empty object", `{}`, []string{}},
		{"non-string entries skipped", `{"state":{"nosana/secrets":["a",1,null,{"k":"v"},["b"],true,"c"]}}`, []string{"a", "c"}},
		{"top-level non-strings skipped", `{"secrets":[1,"x",false]}`, []string{"x"}},
		{"empty and duplicate entries dropped", `{"secrets":["a","","a","b","a"]}`, []string{"a", "b"}},
		{"empty state array is authoritative", `{"state":{"nosana/secrets":[]},"secrets":["b"]}`, []string{}},
		{"state array of non-strings is authoritative", `{"state":{"nosana/secrets":[1,2]},"secrets":["b"]}`, []string{}},
		{"state entry not an array falls back", `{"state":{"nosana/secrets":"a"},"secrets":["b"]}`, []string{"b"}},
		{"state entry null falls back", `{"state":{"nosana/secrets":null},"secrets":["b"]}`, []string{"b"}},
		{"state not an object falls back", `{"state":["a"],"secrets":["b"]}`, []string{"b"}},
		{"top-level secrets not an array", `{"secrets":"a"}`, []string{}},
		{"top-level secrets object", `{"secrets":{"a":"b"}}`, []string{}},
		{"key with nosana/secrets at top level is not the state form", `{"nosana/secrets":["a"]}`, []string{}},
		{"unicode keys kept as is", `{"secrets":["ключ","a:b","  spaced  "]}`, []string{"ключ", "a:b", "  spaced  "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := ipfs.ParseDocument([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got := ipfs.Grants(doc)
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("Grants = %#v, want %#v", got, tc.want)
			}
		})
	}
	if got := ipfs.Grants(nil); got == nil || len(got) != 0 {
		t.Errorf("Grants(nil) = %#v, want an empty list", got)
	}
}

func TestParseDocument(t *testing.T) {
	for _, ok := range []string{`{}`, ` {"a":1} `, "\n\t{\"a\":[1,2,{\"b\":null}]}\n"} {
		if _, err := ipfs.ParseDocument([]byte(ok)); err != nil {
			t.Errorf("ParseDocument(%q): %v", ok, err)
		}
	}
	for _, tc := range []struct{ in, message string }{
		{``, "empty"},
		{`   `, "empty"},
		{`[]`, "an array"},
		{`["a"]`, "an array"},
		{`"a"`, "a string"},
		{`null`, "null"},
		{`42`, "a number"},
		{`true`, "a boolean"},
		{`<html>`, "HTML"},
		{`{`, "not valid JSON"},
		{`{"a":1}x`, "not valid JSON"},
		{`{"a":1}{}`, "not valid JSON"},
		{`{'a':1}`, "not valid JSON"},
	} {
		_, err := ipfs.ParseDocument([]byte(tc.in))
		if !errors.Is(err, ipfs.ErrInvalidDocument) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("ParseDocument(%q) error = %v, want ErrInvalidDocument saying %q", tc.in, err, tc.message)
		}
	}
}

func FuzzGrants(f *testing.F) {
	for _, s := range []string{
		`{"state":{"nosana/secrets":["a","b"]}}`,
		`{"secrets":["a",1,null,"a",""]}`,
		`{"state":{"nosana/secrets":"x"},"secrets":["y"]}`,
		`{"state":[],"secrets":{}}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ipfs.ParseDocument(data)
		if err != nil {
			if !errors.Is(err, ipfs.ErrInvalidDocument) {
				t.Fatalf("error %v does not wrap ErrInvalidDocument", err)
			}
			return
		}
		if doc == nil {
			t.Fatalf("nil document without error for %q", data)
		}
		got := ipfs.Grants(doc)
		if got == nil {
			t.Fatal("Grants returned nil")
		}
		seen := map[string]bool{}
		for _, k := range got {
			if k == "" || seen[k] {
				t.Fatalf("Grants returned an empty or duplicate key: %q", got)
			}
			seen[k] = true
		}
		// Every key comes from one of the two places.
		var from []any
		if st, ok := doc["state"].(map[string]any); ok {
			from, _ = st[ipfs.GrantsKey].([]any)
		}
		if from == nil {
			from, _ = doc["secrets"].([]any)
		}
		for _, k := range got {
			if !slices.Contains(from, any(k)) {
				t.Fatalf("key %q is not in the grant list %v", k, from)
			}
		}
	})
}
