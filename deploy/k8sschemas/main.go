// Command k8sschemas turns the Kubernetes OpenAPI (v2) document into the
// standalone, strict JSON schemas kubeconform reads, one file per kind
// (deployment-apps-v1.json, service-v1.json…), as openapi2jsonschema does
// for kubernetes-json-schema: objects refuse unknown fields, int-or-string
// and quantities take both forms. .ci/helm.sh runs it on swagger.json from
// the k8s.io/kubernetes module, so no schema has to be fetched from the web.
//
//	go run ./deploy/k8sschemas SWAGGER.json OUTDIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: k8sschemas SWAGGER.json OUTDIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschemas:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %v", in, err)
	}
	if len(doc.Definitions) == 0 {
		return fmt.Errorf("%s: no definitions", in)
	}
	defs := map[string]any{}
	for name, d := range doc.Definitions {
		delete(d, "description")
		defs[name] = strict(d)
	}
	// A quantity is "1" or 1 (and 0.5) in YAML.
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{
		"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}},
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	n := 0
	for name, d := range doc.Definitions {
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 {
			continue // none: not a kind; several: DeleteOptions and the like
		}
		gvk := gvks[0].(map[string]any)
		group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
		file := strings.ToLower(kind)
		if group != "" {
			file += "-" + strings.ToLower(strings.Split(group, ".")[0])
		}
		file += "-" + strings.ToLower(version) + ".json"
		schema := map[string]any{
			"$ref":        "#/definitions/" + name,
			"definitions": reachable(defs, name),
		}
		enc, err := json.Marshal(schema)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, file), enc, 0o644); err != nil {
			return err
		}
		n++
	}
	fmt.Printf("k8sschemas: %d kinds in %s\n", n, out)
	return nil
}

// reachable is the definitions root refers to, directly or not.
func reachable(defs map[string]any, root string) map[string]any {
	out := map[string]any{}
	var walk func(v any)
	visit := func(name string) {
		if _, seen := out[name]; seen {
			return
		}
		out[name] = defs[name]
		walk(defs[name])
	}
	walk = func(v any) {
		switch s := v.(type) {
		case map[string]any:
			for k, x := range s {
				if ref, ok := x.(string); ok && k == "$ref" {
					visit(strings.TrimPrefix(ref, "#/definitions/"))
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range s {
				walk(x)
			}
		}
	}
	visit(root)
	return out
}

// strict rewrites one schema (recursively): objects with properties refuse
// others, and the two Kubernetes string formats accept their numbers.
func strict(v any) any {
	switch s := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(s)+1)
		for k, x := range s {
			if k == "description" {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for p, ps := range x.(map[string]any) {
					props[p] = strict(ps)
				}
				out[k] = props
				continue
			}
			out[k] = strict(x)
		}
		switch s["format"] {
		case "int-or-string":
			delete(out, "type")
			delete(out, "format")
			out["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if _, ok := s["properties"]; ok && s["additionalProperties"] == nil {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = strict(x)
		}
		return out
	}
	return v
}
