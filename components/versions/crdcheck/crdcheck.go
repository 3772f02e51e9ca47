// Package crdcheck validates rendered custom resources against the
// openAPIV3Schema of upstream CRD YAML, so that tests catch field-name and
// type drift before an end-to-end run against a real API server does.
//
// It is a structural check, not a full Kubernetes validator: it enforces
// types, unknown fields (honouring x-kubernetes-preserve-unknown-fields and
// additionalProperties), required fields, enums, int-or-string and numeric
// minimum/maximum and string patterns (when Go's regexp compiles them).
// CEL rules and oneOf/anyOf/not are not checked.
package crdcheck

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvDir names the environment variable that overrides the CRD directory.
const EnvDir = "ORDERMESH_CRDS_DIR"

// Set holds the schemas of every served version of every CRD loaded.
type Set struct {
	schemas map[string]map[string]any // "group/version Kind" -> openAPIV3Schema
}

// DefaultDir returns $ORDERMESH_CRDS_DIR or, when unset, the shared/crds
// directory next to the repository root (found by walking up from the
// working directory to go.mod).
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("crdcheck: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "crds"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("crdcheck: no go.mod above %s", wd)
		}
	}
}

// Load parses every *.yaml file below dir.
func Load(dir string) (*Set, error) {
	s := &Set{schemas: map[string]map[string]any{}}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for {
			var doc struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Group string `yaml:"group"`
					Names struct {
						Kind string `yaml:"kind"`
					} `yaml:"names"`
					Versions []struct {
						Name   string `yaml:"name"`
						Served bool   `yaml:"served"`
						Schema struct {
							OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
						} `yaml:"schema"`
					} `yaml:"versions"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("crdcheck: %s: %w", path, err)
			}
			if doc.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, v := range doc.Spec.Versions {
				if v.Served {
					s.schemas[key(doc.Spec.Group+"/"+v.Name, doc.Spec.Names.Kind)] = v.Schema.OpenAPIV3Schema
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if len(s.schemas) == 0 {
		return nil, fmt.Errorf("crdcheck: no CRDs found in %s", dir)
	}
	return s, nil
}

func key(apiVersion, kind string) string { return apiVersion + " " + kind }

// Has reports whether apiVersion/kind is served by a loaded CRD.
func (s *Set) Has(apiVersion, kind string) bool {
	_, ok := s.schemas[key(apiVersion, kind)]
	return ok
}

// Validate checks a whole object (apiVersion, kind, metadata, spec, ...) as
// decoded from JSON (numbers as float64 or int) against its CRD schema and
// returns every problem found, each naming the field path.
func (s *Set) Validate(obj map[string]any) []error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	schema, ok := s.schemas[key(apiVersion, kind)]
	if !ok {
		return []error{fmt.Errorf("no served CRD for %s %s", apiVersion, kind)}
	}
	// The API server handles apiVersion, kind and metadata itself; some CRD
	// schemas (Istio's) do not even list them.
	rest := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "metadata" && k != "apiVersion" && k != "kind" {
			rest[k] = v
		}
	}
	var errs []error
	walk(schema, rest, kind, &errs)
	return errs
}

func walk(schema map[string]any, v any, path string, errs *[]error) {
	fail := func(format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	if v == nil {
		if n, _ := schema["nullable"].(bool); !n {
			fail("null is not allowed")
		}
		return
	}
	if ios, _ := schema["x-kubernetes-int-or-string"].(bool); ios {
		switch v.(type) {
		case string:
		default:
			if !isInteger(v) {
				fail("want integer or string, got %T", v)
			}
		}
		return
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			fail("value %v not in enum %v", v, enum)
		}
	}
	typ, _ := schema["type"].(string)
	switch typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("want object, got %T", v)
			return
		}
		props, _ := schema["properties"].(map[string]any)
		preserve, _ := schema["x-kubernetes-preserve-unknown-fields"].(bool)
		var additional map[string]any
		switch ap := schema["additionalProperties"].(type) {
		case map[string]any:
			additional = ap
		case bool:
			preserve = preserve || ap
		}
		for _, r := range asStrings(schema["required"]) {
			if _, ok := m[r]; !ok {
				fail("required field %q missing", r)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := path + "." + k
			if ps, ok := props[k].(map[string]any); ok {
				walk(ps, m[k], child, errs)
				continue
			}
			if additional != nil {
				walk(additional, m[k], child, errs)
				continue
			}
			if !preserve {
				*errs = append(*errs, fmt.Errorf("%s: unknown field", child))
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("want array, got %T", v)
			return
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range a {
			if items != nil {
				walk(items, e, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want string, got %T", v)
			return
		}
		// ECMA patterns Go cannot compile are skipped, not failed.
		if p, _ := schema["pattern"].(string); p != "" {
			if re, err := regexp.Compile(p); err == nil && !re.MatchString(str) {
				fail("%q does not match pattern %s", str, p)
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want boolean, got %T", v)
		}
	case "integer":
		if !isInteger(v) {
			fail("want integer, got %T %v", v, v)
			return
		}
		checkRange(schema, toFloat(v), fail)
	case "number":
		if _, ok := toFloatOK(v); !ok {
			fail("want number, got %T", v)
			return
		}
		checkRange(schema, toFloat(v), fail)
	}
}

func checkRange(schema map[string]any, f float64, fail func(string, ...any)) {
	if min, ok := toFloatOK(schema["minimum"]); ok && f < min {
		fail("%v is below minimum %v", f, min)
	}
	if max, ok := toFloatOK(schema["maximum"]); ok && f > max {
		fail("%v is above maximum %v", f, max)
	}
}

func asStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func isInteger(v any) bool {
	f, ok := toFloatOK(v)
	return ok && f == math.Trunc(f)
}

func toFloat(v any) float64 { f, _ := toFloatOK(v); return f }

func toFloatOK(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
