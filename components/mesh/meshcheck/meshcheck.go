// Package meshcheck checks rendered manifests for mesh rules that Istio's own
// tools (istioctl validate/analyze) accept but this platform forbids: route
// weights that do not sum to 100 (Istio normalises them silently), subsets
// and gateways that do not exist, and AuthorizationPolicy principals that are
// not declared callers of the workload the policy protects.
//
// It reads the YAML the Kubernetes provider writes in render mode
// (renderYamlToDirectory) or any directory of manifests.
package meshcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule names, as reported in Finding.Rule.
const (
	RuleRouteWeights      = "route-weights"
	RuleSubsetExists      = "subset-exists"
	RuleGatewayExists     = "gateway-exists"
	RulePrincipalFormat   = "principal-format"
	RulePrincipalDeclared = "principal-declared"
	RulePolicyTarget      = "policy-target"
)

// Finding is one violated rule.
type Finding struct {
	Rule string
	// Object is "<Kind> <namespace>/<name>".
	Object string
	// File is the manifest the object came from.
	File    string
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: [%s] %s", f.File, f.Object, f.Rule, f.Message)
}

// Findings is the result of Check; its Error lists one finding per line.
type Findings []Finding

func (fs Findings) Error() string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return fmt.Sprintf("meshcheck: %d finding(s):\n  %s", len(fs), strings.Join(lines, "\n  "))
}

// Err returns fs as an error, or nil when there are no findings.
func (fs Findings) Err() error {
	if len(fs) == 0 {
		return nil
	}
	return fs
}

// Manifests are the Kubernetes objects read from files.
type Manifests struct {
	objects []object
}

// Len is the number of objects read.
func (m *Manifests) Len() int { return len(m.objects) }

// Count is the number of objects of kind.
func (m *Manifests) Count(kind string) int {
	n := 0
	for _, o := range m.objects {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

type object struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

func (o object) ref() string {
	return fmt.Sprintf("%s %s/%s", o.Kind, o.namespace(), o.Metadata.Name)
}

func (o object) namespace() string {
	if o.Metadata.Namespace == "" {
		return "default"
	}
	return o.Metadata.Namespace
}

// LoadDir reads every *.yaml, *.yml and *.json file under dir (recursively;
// render mode writes 0-crd/ and 1-manifest/), each possibly holding several
// YAML documents.
func LoadDir(dir string) (*Manifests, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("meshcheck: read %s: %w", dir, err)
	}
	sort.Strings(files)
	m := &Manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("meshcheck: %w", err)
		}
		objs, err := parse(b)
		if err != nil {
			return nil, fmt.Errorf("meshcheck: %s: %w", f, err)
		}
		for _, o := range objs {
			o.file = f
			m.objects = append(m.objects, o)
		}
	}
	return m, nil
}

func parse(b []byte) ([]object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []object
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// Empty documents and non-objects (lists, scalars) are not manifests.
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		var o object
		if err := doc.Decode(&o); err != nil {
			return nil, err
		}
		if o.Kind == "" {
			continue
		}
		out = append(out, o)
	}
}

// CallGraph is the declared call graph: who may call which workload.
type CallGraph struct {
	// Workloads are the services AuthorizationPolicies may protect.
	Workloads []Workload
}

// Workload is one service and the principals allowed to call it.
type Workload struct {
	Name      string
	Namespace string
	// Labels of its pods; a policy selects the workload when its
	// matchLabels are a subset of these.
	Labels map[string]string
	// Callers are the principals (trust-domain/ns/<ns>/sa/<sa>) of its
	// declared callers.
	Callers []string
}

// Check runs every rule over m and returns the findings, sorted by file.
func Check(m *Manifests, g CallGraph) Findings {
	var fs Findings
	fs = append(fs, checkVirtualServices(m)...)
	fs = append(fs, checkAuthorizationPolicies(m, g)...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].File < fs[j].File })
	return fs
}

// --- VirtualServices ----------------------------------------------------------

type virtualServiceSpec struct {
	Hosts    []string `yaml:"hosts"`
	Gateways []string `yaml:"gateways"`
	HTTP     []route  `yaml:"http"`
	TCP      []route  `yaml:"tcp"`
	TLS      []route  `yaml:"tls"`
}

type route struct {
	Name  string             `yaml:"name"`
	Route []routeDestination `yaml:"route"`
}

type routeDestination struct {
	Destination struct {
		Host   string `yaml:"host"`
		Subset string `yaml:"subset"`
	} `yaml:"destination"`
	Weight *int `yaml:"weight"`
}

type destinationRuleSpec struct {
	Host    string `yaml:"host"`
	Subsets []struct {
		Name string `yaml:"name"`
	} `yaml:"subsets"`
}

// fqdn resolves a host the way Istio does: a name without dots is relative
// to the namespace of the resource that names it; anything else is taken
// as written.
func fqdn(host, ns string) string {
	if strings.Contains(host, ".") || strings.Contains(host, "*") {
		return host
	}
	return fmt.Sprintf("%s.%s.svc.cluster.local", host, ns)
}

func checkVirtualServices(m *Manifests) Findings {
	var fs Findings
	subsets := map[string][]string{} // fqdn host -> subset names
	gateways := map[string]bool{}    // ns/name
	for _, o := range m.objects {
		switch o.Kind {
		case "DestinationRule":
			var dr destinationRuleSpec
			if err := o.Spec.Decode(&dr); err != nil {
				fs = append(fs, Finding{Rule: RuleSubsetExists, Object: o.ref(), File: o.file, Message: "unreadable spec: " + err.Error()})
				continue
			}
			h := fqdn(dr.Host, o.namespace())
			for _, s := range dr.Subsets {
				subsets[h] = append(subsets[h], s.Name)
			}
		case "Gateway":
			if strings.HasPrefix(o.APIVersion, "networking.istio.io/") {
				gateways[o.namespace()+"/"+o.Metadata.Name] = true
			}
		}
	}
	for _, o := range m.objects {
		if o.Kind != "VirtualService" {
			continue
		}
		bad := func(rule, format string, args ...any) {
			fs = append(fs, Finding{Rule: rule, Object: o.ref(), File: o.file, Message: fmt.Sprintf(format, args...)})
		}
		var vs virtualServiceSpec
		if err := o.Spec.Decode(&vs); err != nil {
			bad(RuleRouteWeights, "unreadable spec: %v", err)
			continue
		}
		for _, gw := range vs.Gateways {
			if gw == "mesh" {
				continue
			}
			ref := gw
			if !strings.Contains(gw, "/") {
				ref = o.namespace() + "/" + gw
			}
			if !gateways[ref] {
				bad(RuleGatewayExists, "gateway %q: no Gateway %s in the manifests", gw, ref)
			}
		}
		for _, kr := range []struct {
			kind   string
			routes []route
		}{{"http", vs.HTTP}, {"tcp", vs.TCP}, {"tls", vs.TLS}} {
			kind := kr.kind
			for i, r := range kr.routes {
				where := fmt.Sprintf("%s[%d]", kind, i)
				if r.Name != "" {
					where += fmt.Sprintf(" (%s)", r.Name)
				}
				weighted, sum := false, 0
				for _, d := range r.Route {
					if d.Weight != nil {
						weighted = true
						sum += *d.Weight
					}
					if d.Destination.Subset == "" {
						continue
					}
					h := fqdn(d.Destination.Host, o.namespace())
					if !slices.Contains(subsets[h], d.Destination.Subset) {
						bad(RuleSubsetExists, "%s: subset %q of host %s is not defined by any DestinationRule (defined: %v)", where, d.Destination.Subset, h, subsets[h])
					}
				}
				// One unweighted destination takes everything; otherwise the
				// weights must say so explicitly.
				if (weighted || len(r.Route) > 1) && sum != 100 {
					bad(RuleRouteWeights, "%s: route weights sum to %d, must sum to 100 (Istio would silently rescale them)", where, sum)
				}
			}
		}
	}
	return fs
}

// --- AuthorizationPolicies ----------------------------------------------------

type authorizationPolicySpec struct {
	Selector *struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Action string `yaml:"action"`
	Rules  []struct {
		From []struct {
			Source struct {
				Principals    []string `yaml:"principals"`
				NotPrincipals []string `yaml:"notPrincipals"`
			} `yaml:"source"`
		} `yaml:"from"`
	} `yaml:"rules"`
}

// principalParts splits "<trust-domain>/ns/<ns>/sa/<sa>"; ok is false for
// anything else, wildcards included.
func principalParts(p string) (ns, sa string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" || strings.Contains(p, "*") {
		return "", "", false
	}
	for _, s := range []string{parts[0], parts[2], parts[4]} {
		if s == "" {
			return "", "", false
		}
	}
	return parts[2], parts[4], true
}

func checkAuthorizationPolicies(m *Manifests, g CallGraph) Findings {
	var fs Findings
	for _, o := range m.objects {
		if o.Kind != "AuthorizationPolicy" {
			continue
		}
		bad := func(rule, format string, args ...any) {
			fs = append(fs, Finding{Rule: rule, Object: o.ref(), File: o.file, Message: fmt.Sprintf(format, args...)})
		}
		var ap authorizationPolicySpec
		if err := o.Spec.Decode(&ap); err != nil {
			bad(RulePrincipalFormat, "unreadable spec: %v", err)
			continue
		}
		var principals []string
		for i, r := range ap.Rules {
			for j, f := range r.From {
				for _, p := range slices.Concat(f.Source.Principals, f.Source.NotPrincipals) {
					if _, _, ok := principalParts(p); !ok {
						bad(RulePrincipalFormat, "rules[%d].from[%d]: principal %q: must be <trust-domain>/ns/<namespace>/sa/<service-account>, no wildcards", i, j, p)
					}
				}
				principals = append(principals, f.Source.Principals...)
			}
		}
		// Only ALLOW policies grant access; denying an undeclared caller is harmless.
		if (ap.Action != "" && ap.Action != "ALLOW") || len(principals) == 0 {
			continue
		}
		var labels map[string]string
		if ap.Selector != nil {
			labels = ap.Selector.MatchLabels
		}
		targets := selected(g, o.namespace(), labels)
		if len(targets) == 0 {
			bad(RulePolicyTarget, "allows principals %v but selects no declared service in namespace %s (selector %v)", principals, o.namespace(), labels)
			continue
		}
		for _, p := range principals {
			for _, w := range targets {
				if !slices.Contains(w.Callers, p) {
					bad(RulePrincipalDeclared, "principal %q is not a declared caller of %s/%s (declared: %v)", p, w.Namespace, w.Name, w.Callers)
				}
			}
		}
	}
	return fs
}

// selected returns the workloads of ns whose labels include matchLabels (a
// policy without a selector applies to every workload of its namespace).
func selected(g CallGraph, ns string, matchLabels map[string]string) []Workload {
	var out []Workload
	for _, w := range g.Workloads {
		if w.Namespace != ns {
			continue
		}
		match := true
		for k, v := range matchLabels {
			if w.Labels[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, w)
		}
	}
	return out
}
