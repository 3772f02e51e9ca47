// Command meshcheck checks a directory of rendered manifests against the
// platform's mesh rules (see package meshcheck) and the call graph a stack
// declares. It exits 1 when there are findings.
//
//	meshcheck -profile prod [-stack-file Pulumi.prod.yaml] <dir>
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/ordermesh/ordermesh/components/mesh/meshcheck"
	"github.com/ordermesh/ordermesh/stacks"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshcheck", flag.ContinueOnError)
	profile := fs.String("profile", "", "stack profile (dev, staging, prod); default: ordermesh:profile of -stack-file")
	stackFile := fs.String("stack-file", "", "Pulumi.<stack>.yaml whose ordermesh config overrides the profile's defaults")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: meshcheck -profile <profile> [-stack-file <file>] <dir>")
	}
	raw := map[string]string{}
	if *stackFile != "" {
		var err error
		if raw, err = rawConfig(*stackFile); err != nil {
			return err
		}
	}
	cfg, err := stacks.Resolve(*profile, raw)
	if err != nil {
		return err
	}
	m, err := meshcheck.LoadDir(fs.Arg(0))
	if err != nil {
		return err
	}
	if m.Len() == 0 {
		return fmt.Errorf("meshcheck: no Kubernetes objects under %s", fs.Arg(0))
	}
	if err := meshcheck.Check(m, meshcheck.GraphFromConfig(cfg)).Err(); err != nil {
		return err
	}
	fmt.Printf("meshcheck: %d objects, no findings\n", m.Len())
	return nil
}

// rawConfig reads a stack file's config the way Pulumi hands it to the
// program: strings as they are, objects and lists as JSON.
func rawConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	raw := map[string]string{}
	for k, v := range doc.Config {
		if s, ok := v.(string); ok {
			raw[k] = s
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		raw[k] = string(j)
	}
	return raw, nil
}
