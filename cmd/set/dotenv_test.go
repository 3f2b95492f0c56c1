package set_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/cmd/set"
)

func TestParseDotenv(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string]string
	}{
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
		{"comments and blanks", "# c\n\n  # indented\nA=1 # trailing\nB=x#not-a-comment\n", map[string]string{"A": "1", "B": "x#not-a-comment"}},
		{"export", "export A=1\nexport\tB=2\nexporter=3\n", map[string]string{"A": "1", "B": "2", "exporter": "3"}},
		{"spaces around =", "A = 1\n  B=  2  \n", map[string]string{"A": "1", "B": "2"}},
		{"empty", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"single quotes literal", `A='a\nb $HOME "x"' # c` + "\n", map[string]string{"A": `a\nb $HOME "x"`}},
		{"double quotes escapes", `A="l1\nl2\ttab \"q\" \\ \$HOME \x"` + "\n", map[string]string{"A": "l1\nl2\ttab \"q\" \\ $HOME \\x"}},
		{"no expansion", "A=$HOME\nB=${USER}\n", map[string]string{"A": "$HOME", "B": "${USER}"}},
		{"multiline double", "A=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nB=2\n", map[string]string{"A": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "B": "2"}},
		{"multiline single", "A='l1\nl2'\n", map[string]string{"A": "l1\nl2"}},
		{"crlf", "A=1\r\nB=\"x\"\r\n", map[string]string{"A": "1", "B": "x"}},
		{"bom", "\ufeffA=1", map[string]string{"A": "1"}},
		{"no final newline", "A=1", map[string]string{"A": "1"}},
		{"equals in value", "URL=postgres://u:p@h/db?sslmode=require", map[string]string{"URL": "postgres://u:p@h/db?sslmode=require"}},
		{"odd keys", "db/password=x\napi.key=y\n", map[string]string{"db/password": "x", "api.key": "y"}},
		{"hash in quotes", `A="a # b"`, map[string]string{"A": "a # b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := set.ParseDotenv(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range entries {
				got[e.Key] = e.Value
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseDotenvLines(t *testing.T) {
	entries, err := set.ParseDotenv("# c\nA=\"1\n2\n3\"\n\nB=x\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Line != 2 || entries[1].Line != 6 {
		t.Errorf("%+v", entries)
	}
}

func TestParseDotenvErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"no equals", "A=1\nJUSTAKEY\n", "line 2: expected KEY=VALUE"},
		{"empty key", "=value\n", "line 1: the key before '=' is empty"},
		{"space in key", "MY KEY=v\n", `line 1: key "MY KEY" contains whitespace`},
		{"unterminated double", "A=\"secret-value\nB=2\n", "line 1: value of A: no closing \" quote"},
		{"unterminated single", "A='secret-value", "line 1: value of A: no closing ' quote"},
		{"text after quote", `A="x" y`, "line 1: unexpected text after the quoted value of A"},
		{"duplicate", "A=1\nA=2\n", "line 2: A is already set on line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := set.ParseDotenv(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Error("error quotes the value")
			}
		})
	}
}

// What list -o dotenv writes, set --from-file reads back unchanged.
func TestDotenvRoundTrip(t *testing.T) {
	values := append([]string{"multi\nline\n", `q"uo'te`, `back\slash`, "$HOME ${X} `cmd`", "tab\there", "cr\rhere", "ünï"},
		cmdtest.HostileValues...)
	var b strings.Builder
	for i, v := range values {
		b.WriteString("K" + string(rune('a'+i)) + "=" + cmdutil.DotenvQuote(v) + "\n")
	}
	entries, err := set.ParseDotenv(b.String())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.Value != values[i] {
			t.Errorf("%q came back as %q", values[i], e.Value)
		}
	}
}

// FuzzParseDotenv checks that whatever ParseDotenv accepts it reads the same
// again once written out with DotenvQuote (keys, values and order), and
// that any value written with DotenvQuote reads back exactly.
func FuzzParseDotenv(f *testing.F) {
	f.Add("A=1\nB=\"x\\ny\"\nexport C='z'\n# c\n", "v")
	f.Add("A=\"it's \"'\"q\"'\nB='x\r\ny'", "a\r\nb`$\\\"")
	f.Fuzz(func(t *testing.T, in, value string) {
		// A value through DotenvQuote comes back byte for byte.
		entries, err := set.ParseDotenv("K=" + cmdutil.DotenvQuote(value) + "\n")
		if err != nil || len(entries) != 1 || entries[0].Key != "K" || entries[0].Value != value {
			t.Fatalf("DotenvQuote(%+q) read back as %+v, %v", value, entries, err)
		}

		entries, err = set.ParseDotenv(in)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString("# written again\n")
		for _, e := range entries {
			if e.Key == "" || strings.ContainsAny(e.Key, " \t\n=") {
				t.Fatalf("bad key %q", e.Key)
			}
			b.WriteString(e.Key + "=" + cmdutil.DotenvQuote(e.Value) + "\n")
		}
		again, err := set.ParseDotenv(b.String())
		if err != nil {
			t.Fatalf("%+q parsed, but written again as %+q it does not: %v", in, b.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%+q: %d entries, written again %d", in, len(entries), len(again))
		}
		for i := range entries {
			if again[i].Key != entries[i].Key || again[i].Value != entries[i].Value {
				t.Fatalf("%+q: entry %d %+q=%+q came back as %+q=%+q", in, i, entries[i].Key, entries[i].Value, again[i].Key, again[i].Value)
			}
		}
	})
}
