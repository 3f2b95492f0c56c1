package cmdutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestEveryCodeMapped: every code of package errcode has its exit code
// and hint here (the one place the CLI maps them) and a row in the
// README's table of codes.
func TestEveryCodeMapped(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../pkg/errcode/errcode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| \\d{3} \\| `([a-z_]+)` \\|").FindAllSubmatch(readme, -1) {
		rows[string(m[1])] = true
	}
	codes := 0
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		code, _ := strconv.Unquote(lit.Value)
		codes++
		if _, ok := byCode[code]; !ok {
			t.Errorf("code %q has no exit code in byCode", code)
		}
		if !rows[code] {
			t.Errorf("code %q has no row in README's table of error codes", code)
		}
		delete(rows, code)
		return true
	})
	if codes < 20 {
		t.Fatalf("found %d codes in errcode.go", codes)
	}
	for code := range rows {
		t.Errorf("README lists code %q, which package errcode does not define", code)
	}
}
