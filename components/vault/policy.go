package vault

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Capability is one Vault ACL capability.
type Capability string

// Capabilities Vault understands. Only CapRead is granted to services.
const (
	CapCreate Capability = "create"
	CapRead   Capability = "read"
	CapUpdate Capability = "update"
	CapPatch  Capability = "patch"
	CapDelete Capability = "delete"
	CapList   Capability = "list"
	CapSudo   Capability = "sudo"
	CapDeny   Capability = "deny"
)

// PathRule is the rule for one path pattern of a policy.
type PathRule struct {
	Capabilities []Capability `json:"capabilities"`
}

// Policy is a Vault ACL policy document. It marshals to Vault's JSON policy
// syntax ({"path": {"<pattern>": {"capabilities": [...]}}}), which Vault
// accepts wherever it accepts HCL.
type Policy struct {
	Path map[string]PathRule `json:"path"`
}

// JSON renders the policy document. Map keys marshal sorted, so the output
// is deterministic (it feeds the configuration hash).
func (p Policy) JSON() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("vault: marshal policy: %w", err)
	}
	return string(b), nil
}

// ParsePolicy parses a JSON policy document as produced by Policy.JSON (or
// returned by Vault for a policy written as JSON).
func ParsePolicy(doc string) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("vault: parse policy: %w", err)
	}
	return p, nil
}

// Paths returns the policy's path patterns, sorted.
func (p Policy) Paths() []string {
	paths := make([]string, 0, len(p.Path))
	for k := range p.Path {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	return paths
}

// ServiceSecretPrefix is the KV v2 data prefix a service owns:
// "<mount>/data/<service>/".
func ServiceSecretPrefix(mount, service string) string {
	return mount + "/data/" + service + "/"
}

// ServicePolicy is the policy a service gets: read-only access to its own
// secrets under <mount>/data/<service>/*, nothing else.
func ServicePolicy(mount, service string) Policy {
	return Policy{Path: map[string]PathRule{
		ServiceSecretPrefix(mount, service) + "*": {Capabilities: []Capability{CapRead}},
	}}
}

// CheckServicePolicy reports every rule of p that reaches beyond the
// service's own prefix or grants more than read. A glob is confined only if
// its literal part starts with the prefix, so "secret/data/order*" (which
// also matches "order-query/") is rejected.
func CheckServicePolicy(p Policy, mount, service string) error {
	prefix := ServiceSecretPrefix(mount, service)
	var problems []string
	if len(p.Path) == 0 {
		problems = append(problems, "policy has no paths")
	}
	for _, path := range p.Paths() {
		literal := strings.TrimSuffix(path, "*")
		if strings.ContainsAny(literal, "*+") || !strings.HasPrefix(literal, prefix) {
			problems = append(problems, fmt.Sprintf("path %q is outside %q", path, prefix+"*"))
		}
		for _, c := range p.Path[path].Capabilities {
			if c != CapRead && c != CapDeny {
				problems = append(problems, fmt.Sprintf("path %q grants %q (only %q is allowed)", path, c, CapRead))
			}
		}
		if !slices.Contains(p.Path[path].Capabilities, CapRead) && !slices.Contains(p.Path[path].Capabilities, CapDeny) {
			problems = append(problems, fmt.Sprintf("path %q grants no capability", path))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("vault: policy for service %q: %s", service, strings.Join(problems, "; "))
	}
	return nil
}
