package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTestOnlyModules keeps what only tests use out of the
// shipped binary, and the weight issue 21 removed from coming back: one YAML
// library, no solana-go (with its zap, logrus and mongo-driver v1).
func TestBinaryLinksNoTestOnlyModules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	banned := []string{
		"github.com/chromedp/", "github.com/getkin/kin-openapi", "github.com/ipfs/boxo",
		"github.com/gagliardetto/", "go.uber.org/zap", "go.mongodb.org/mongo-driver/bson", // v1; v2 is .../v2/bson
		"go.yaml.in/yaml/v4", "gopkg.in/yaml",
		"/ipfstest", "/solanatest", "/clienttest", "/storagetest", "internal/testserver",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.Contains(pkg, b) {
				t.Errorf("the binary links %s (%s)", pkg, b)
			}
		}
	}
}
