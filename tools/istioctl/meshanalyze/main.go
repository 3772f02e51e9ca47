// Command meshanalyze runs Istio's analyzers (the library behind `istioctl
// analyze`) over manifest files, INCLUDING the Services, Pods and Namespaces
// that `istioctl analyze --use-kube=false` drops. With them the analyzers
// that check destination hosts, gateway selectors and workload/service
// associations run instead of being skipped. Deployments can stand in for
// their Pods (-pods-from-deployments), since a render has no Pods.
//
//	meshanalyze [-istio-namespace istio-system] [-failure-threshold Error] [-pods-from-deployments] [-v] PATH...
//
// It exits 79 (like istioctl analyze) when a message reaches the threshold.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/log"
)

// exitFindings is istioctl analyze's exit code for findings.
const exitFindings = 79

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshanalyze:", err)
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	fl := flag.NewFlagSet("meshanalyze", flag.ContinueOnError)
	istioNS := fl.String("istio-namespace", "istio-system", "Istio's root namespace")
	threshold := fl.String("failure-threshold", "Error", "lowest level that fails: Info, Warning or Error")
	podsFromDeployments := fl.Bool("pods-from-deployments", false, "add one Pod per Deployment, from its pod template")
	verbose := fl.Bool("v", false, "list executed and skipped analyzers")
	if err := fl.Parse(args); err != nil {
		return 2, err
	}
	level, ok := diag.GetUppercaseStringToLevelMap()[strings.ToUpper(*threshold)]
	if !ok {
		return 2, fmt.Errorf("-failure-threshold %q: must be one of %v", *threshold, diag.GetAllLevelStrings())
	}
	// The analyzer's informers log every sync at info; keep stderr for problems.
	logOpts := log.DefaultOptions()
	logOpts.SetDefaultOutputLevel(log.OverrideScopeName, log.WarnLevel)
	if err := log.Configure(logOpts); err != nil {
		return 2, err
	}
	if fl.NArg() == 0 {
		return 2, errors.New("usage: meshanalyze [flags] PATH...")
	}
	var readers []local.ReaderSource
	for _, p := range fl.Args() {
		files, err := manifestFiles(p)
		if err != nil {
			return 2, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return 2, err
			}
			readers = append(readers, local.ReaderSource{Name: f, Reader: bytes.NewReader(b)})
			if *podsFromDeployments {
				pods, err := podsFor(b)
				if err != nil {
					return 2, fmt.Errorf("%s: %w", f, err)
				}
				if len(pods) > 0 {
					readers = append(readers, local.ReaderSource{Name: f + " (pods)", Reader: bytes.NewReader(pods)})
				}
			}
		}
	}

	// Namespace "" analyzes every namespace (istioctl's -A).
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), "", resource.Namespace(*istioNS), nil)
	// The first reader source decides which kinds the file store keeps: adding
	// the files with runtime resources first keeps Services/Pods/Namespaces;
	// AddDefaultResources (the default ingress gateway) then reuses that store.
	if err := sa.AddTestReaderKubeSource(readers); err != nil {
		return 2, fmt.Errorf("reading manifests: %w", err)
	}
	if err := sa.AddDefaultResources(); err != nil {
		return 2, fmt.Errorf("default resources: %w", err)
	}
	res, err := sa.Analyze(make(chan struct{}))
	if err != nil {
		return 2, fmt.Errorf("analyze: %w", err)
	}
	if *verbose {
		fmt.Fprintf(stderr, "executed analyzers: %s\nskipped analyzers: %s\n",
			strings.Join(res.ExecutedAnalyzers, ", "), strings.Join(res.SkippedAnalyzers, ", "))
	}
	msgs := res.Messages.SortedDedupedCopy()
	failed := false
	for i := range msgs {
		m := msgs[i]
		fmt.Fprintln(stdout, m.String())
		if m.Type.Level().IsWorseThanOrEqualTo(level) {
			failed = true
		}
	}
	if failed {
		return exitFindings, fmt.Errorf("messages at or above %s", level)
	}
	fmt.Fprintf(stderr, "no messages at or above %s in %d files\n", level, len(readers))
	return 0, nil
}

func manifestFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// podsFor returns a Pod manifest per Deployment in b, made from its
// template: what the ReplicaSet would create, minus what the scheduler adds.
func podsFor(b []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out bytes.Buffer
	for {
		var d struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Metadata map[string]any `yaml:"metadata"`
					Spec     map[string]any `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		if d.Kind != "Deployment" {
			continue
		}
		meta := map[string]any{}
		for k, v := range d.Spec.Template.Metadata {
			meta[k] = v
		}
		meta["name"] = d.Metadata.Name + "-pod"
		meta["namespace"] = d.Metadata.Namespace
		pod, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": d.Spec.Template.Spec})
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(pod)
	}
}
