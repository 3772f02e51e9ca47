// Package rules holds the ordermesh policy rules as plain Go functions over resource properties. The pack's
// main (policies/cmd/ordermesh-policies) wires them into a policyx policy pack; here they know nothing about
// the engine, so each can be tested on fixtures.
package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// Resource is one resource as a rule sees it: the type token (e.g. "kubernetes:apps/v1:Deployment"), its URN
// and its properties (inputs for resource rules, outputs for stack rules, as the engine sends them).
type Resource struct {
	Type  string
	URN   string
	Name  string
	Props property.Map
}

// Finding is one problem a rule found. Unknown findings mean the rule could not decide because a value is
// not known yet (during preview); Field then names that value.
type Finding struct {
	URN     string
	Message string
	Unknown bool
	Field   string
}

func (f Finding) String() string {
	if f.Unknown {
		return fmt.Sprintf("cannot verify during preview: %s unknown", f.Field)
	}
	return f.Message
}

// Class says how strictly a rule is enforced by default.
type Class int

const (
	// Safety rules are mandatory in the prod profile and advisory elsewhere.
	Safety Class = iota
	// Invariant rules are mandatory in every profile: breaking them is wrong everywhere (broken routing,
	// leaked credentials, access for everyone).
	Invariant
)

// Params are the thresholds that differ between environment profiles.
type Params struct {
	// Profile is the environment profile (dev, staging, prod).
	Profile string
	// MinTopicReplicas and MinInSyncReplicas are the least a KafkaTopic may set.
	MinTopicReplicas  int
	MinInSyncReplicas int
	// SystemNamespaces hold cluster and mesh machinery, not ordermesh apps; workload and network rules skip
	// them.
	SystemNamespaces []string
}

// ParamsFor returns the thresholds for a profile: prod demands replication 3 and min.insync.replicas 2 (the
// platform's promise in DESIGN.md §3); other profiles run single brokers, so any replication passes there.
func ParamsFor(profile string) Params {
	p := Params{
		Profile:           profile,
		MinTopicReplicas:  1,
		MinInSyncReplicas: 1,
		SystemNamespaces:  []string{"kube-system", "kube-public", "kube-node-lease", "istio-system"},
	}
	if profile == "prod" {
		p.MinTopicReplicas, p.MinInSyncReplicas = 3, 2
	}
	return p
}

func (p Params) system(ns string) bool { return slices.Contains(p.SystemNamespaces, ns) }

// Rule is one policy. Exactly one of CheckResource and CheckStack is set.
type Rule struct {
	// Name is kebab-case and unique in the pack.
	Name        string
	Description string
	// Remediation tells the author how to fix a violation.
	Remediation string
	Class       Class
	// CheckResource checks one resource's inputs.
	CheckResource func(r Resource, p Params) []Finding
	// CheckStack checks all resources of the stack together (relations such as PDB ↔ Deployment).
	CheckStack func(rs []Resource, p Params) []Finding
}

// ExemptAnnotation on a resource's metadata lists rule names (comma-separated) that do not apply to it. The
// exemption is visible in code review, unlike a pack-wide switch.
const ExemptAnnotation = "policy.ordermesh.io/exempt"

// Exempt reports whether r opts out of rule name.
func Exempt(r Resource, name string) bool {
	s, ok := root(r.Props).Path("metadata", "annotations", ExemptAnnotation).Str()
	if !ok {
		return false
	}
	for _, n := range strings.Split(s, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// Run applies the rule to one resource (resource rules) and drops the findings of exempt resources.
func (rule Rule) Run(r Resource, p Params) []Finding {
	if rule.CheckResource == nil || Exempt(r, rule.Name) {
		return nil
	}
	return rule.CheckResource(r, p)
}

// RunStack applies a stack rule and drops findings about resources exempt from it.
func (rule Rule) RunStack(rs []Resource, p Params) []Finding {
	if rule.CheckStack == nil {
		return nil
	}
	exempt := map[string]bool{}
	for _, r := range rs {
		if Exempt(r, rule.Name) {
			exempt[r.URN] = true
		}
	}
	var out []Finding
	for _, f := range rule.CheckStack(rs, p) {
		if !exempt[f.URN] {
			out = append(out, f)
		}
	}
	return out
}

// All returns every rule of the pack.
func All() []Rule {
	return []Rule{
		workloadResources,
		workloadProbes,
		imageTagPinned,
		containerSecurityContext,
		noHostAccess,
		replicatedDeploymentPDB,
		namespaceDefaultDeny,
		workloadNetworkPolicy,
		meshStrictMTLS,
		meshNoAllowAllAuthorization,
		canaryWeightsSum100,
		kafkaTopicReplication,
		kafkaNoWildcardACLs,
		serviceTypeRestricted,
		noPlaintextSecrets,
	}
}

// findings collects findings about one resource.
type findings struct {
	urn string
	out []Finding
}

func (f *findings) fail(format string, args ...any) {
	f.out = append(f.out, Finding{URN: f.urn, Message: fmt.Sprintf(format, args...)})
}

func (f *findings) unknown(n node) {
	f.out = append(f.out, Finding{URN: f.urn, Unknown: true, Field: n.path})
}

// kind returns the Kubernetes group and kind of a type token ("kubernetes:apps/v1:Deployment" → "apps",
// "Deployment"); custom resources have the same shape ("kubernetes:kafka.strimzi.io/v1:KafkaTopic").
func kind(typ string) (group, k string) {
	parts := strings.Split(typ, ":")
	if len(parts) != 3 || parts[0] != "kubernetes" {
		return "", ""
	}
	gv := parts[1]
	if i := strings.LastIndex(gv, "/"); i >= 0 {
		gv = gv[:i]
	}
	if gv == "core" {
		gv = ""
	}
	return gv, parts[2]
}

func is(r Resource, group, k string) bool {
	g, kk := kind(r.Type)
	return g == group && kk == k
}

// namespace returns metadata.namespace, "default" when unset (the provider's default).
func namespace(r Resource) (string, node) {
	n := root(r.Props).Path("metadata", "namespace")
	if s, ok := n.Str(); ok && s != "" {
		return s, n
	}
	if n.Unknown() {
		return "", n
	}
	return "default", n
}

func displayName(r Resource) string {
	if s, ok := root(r.Props).Path("metadata", "name").Str(); ok && s != "" {
		return s
	}
	return r.Name
}
