package vault

import (
	"fmt"
	"sort"
	"strings"
)

// Plan is the complete, ordered configuration of a Vault server for the
// declared services. It is the single source of truth: RenderScript turns
// it into the shell script the in-cluster Job runs with the vault (or bao)
// CLI, and the real-server test runs that same script. Every step is
// idempotent, and the prune steps reconcile: managed (prefixed) policies
// and roles that are no longer declared are deleted.
type Plan struct {
	Steps []Step
}

// Step is one configuration action. The concrete types below are the only
// steps; RenderScript handles each.
type Step interface {
	// Describe is a one-line, human-readable summary (echoed by the script).
	Describe() string
}

// EnableSecretsEngine mounts a secrets engine at Path unless a mount is
// already there (an existing mount is left untouched).
type EnableSecretsEngine struct {
	Path    string
	Type    string // "kv"
	Version int    // KV version: 2
}

// EnableAuthMethod enables an auth method at Path unless one is there.
type EnableAuthMethod struct {
	Path string
	Type string // "kubernetes"
}

// KubernetesAuthConfig is the body of auth/<path>/config (current Vault
// field names).
type KubernetesAuthConfig struct {
	KubernetesHost   string `json:"kubernetes_host"`
	KubernetesCACert string `json:"kubernetes_ca_cert,omitempty"`
}

// WriteKubernetesAuthConfig writes auth/<AuthPath>/config.
type WriteKubernetesAuthConfig struct {
	AuthPath string
	Config   KubernetesAuthConfig
}

// WritePolicy writes (creates or replaces) an ACL policy.
type WritePolicy struct {
	Name string
	// Service whose policy this is; the plan refuses a policy that reaches
	// outside the service's prefix.
	Service string
	Policy  Policy
}

// KubernetesRole is the body of auth/<path>/role/<name>, in current Vault's
// field names (token_policies, token_ttl), which Vault 1.1 does not know.
type KubernetesRole struct {
	BoundServiceAccountNames      []string `json:"bound_service_account_names"`
	BoundServiceAccountNamespaces []string `json:"bound_service_account_namespaces"`
	TokenPolicies                 []string `json:"token_policies"`
	TokenTTL                      string   `json:"token_ttl"`
	Audience                      string   `json:"audience,omitempty"`
}

// WriteKubernetesRole writes (creates or replaces) a Kubernetes auth role.
type WriteKubernetesRole struct {
	AuthPath string
	Name     string
	Role     KubernetesRole
}

// SeedKV writes a KV v2 secret only if it does not exist yet (cas=0). The
// data is read at run time from File (a JSON object of strings) in the
// directory named by $SEED_DIR, so secret values never appear in the plan
// or the script.
type SeedKV struct {
	Mount string
	Path  string // below the mount, e.g. "order/db"
	File  string
}

// PrunePolicies deletes policies named Prefix* that are not in Keep.
type PrunePolicies struct {
	Prefix string
	Keep   []string
}

// PruneKubernetesRoles deletes roles named Prefix* on the auth mount that
// are not in Keep.
type PruneKubernetesRoles struct {
	AuthPath string
	Prefix   string
	Keep     []string
}

// Describe implements Step.
func (s EnableSecretsEngine) Describe() string {
	return fmt.Sprintf("enable secrets engine %s (v%d) at %s/", s.Type, s.Version, s.Path)
}

// Describe implements Step.
func (s EnableAuthMethod) Describe() string {
	return fmt.Sprintf("enable auth method %s at %s/", s.Type, s.Path)
}

// Describe implements Step.
func (s WriteKubernetesAuthConfig) Describe() string {
	return fmt.Sprintf("write auth/%s/config", s.AuthPath)
}

// Describe implements Step.
func (s WritePolicy) Describe() string { return "write policy " + s.Name }

// Describe implements Step.
func (s WriteKubernetesRole) Describe() string {
	return fmt.Sprintf("write role auth/%s/role/%s", s.AuthPath, s.Name)
}

// Describe implements Step.
func (s SeedKV) Describe() string { return fmt.Sprintf("seed %s/%s if absent", s.Mount, s.Path) }

// Describe implements Step.
func (s PrunePolicies) Describe() string {
	return fmt.Sprintf("delete undeclared policies %s*", s.Prefix)
}

// Describe implements Step.
func (s PruneKubernetesRoles) Describe() string {
	return fmt.Sprintf("delete undeclared roles auth/%s/role/%s*", s.AuthPath, s.Prefix)
}

// PolicyName is the name of a service's policy (and role).
func PolicyName(prefix, service string) string { return prefix + service }

// SeedFileName is the file (and Kubernetes Secret key) holding a seed
// secret's data: "<service>.<path with '/' as '.'>.json".
func SeedFileName(service, path string) string {
	return service + "." + strings.ReplaceAll(path, "/", ".") + ".json"
}

// NewPlan validates args (after defaults) and returns the configuration
// plan for them.
func NewPlan(args Args) (*Plan, error) {
	a := args.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	return buildPlan(a)
}

// buildPlan assumes a has defaults applied and is valid. Services are
// sorted by name so that declaration order does not change the plan.
func buildPlan(a Args) (*Plan, error) {
	services := append([]Service(nil), a.Services...)
	sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })

	p := &Plan{Steps: []Step{
		EnableSecretsEngine{Path: a.KVMount, Type: "kv", Version: 2},
		EnableAuthMethod{Path: a.AuthPath, Type: "kubernetes"},
		WriteKubernetesAuthConfig{AuthPath: a.AuthPath, Config: KubernetesAuthConfig{
			KubernetesHost:   a.KubernetesHost,
			KubernetesCACert: a.KubernetesCACert,
		}},
	}}
	var names []string
	for _, s := range services {
		name := PolicyName(a.NamePrefix, s.Name)
		names = append(names, name)
		p.Steps = append(p.Steps, WritePolicy{Name: name, Service: s.Name, Policy: ServicePolicy(a.KVMount, s.Name)})
	}
	for _, s := range services {
		name := PolicyName(a.NamePrefix, s.Name)
		p.Steps = append(p.Steps, WriteKubernetesRole{AuthPath: a.AuthPath, Name: name, Role: KubernetesRole{
			BoundServiceAccountNames:      []string{s.ServiceAccount},
			BoundServiceAccountNamespaces: []string{s.Namespace},
			TokenPolicies:                 []string{name},
			TokenTTL:                      a.TokenTTL,
			Audience:                      a.Audience,
		}})
	}
	for _, s := range services {
		for _, sec := range s.Secrets {
			p.Steps = append(p.Steps, SeedKV{
				Mount: a.KVMount,
				Path:  s.Name + "/" + sec.Path,
				File:  SeedFileName(s.Name, sec.Path),
			})
		}
	}
	// Roles go before policies so that no remaining role names a policy
	// that is already gone.
	p.Steps = append(p.Steps,
		PruneKubernetesRoles{AuthPath: a.AuthPath, Prefix: a.NamePrefix, Keep: names},
		PrunePolicies{Prefix: a.NamePrefix, Keep: names},
	)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the plan's invariants: every policy is confined to its
// service's prefix and read-only. The component and the Job refuse a plan
// that fails.
func (p *Plan) Validate() error {
	var errs []string
	mount := ""
	for _, s := range p.Steps {
		if e, ok := s.(EnableSecretsEngine); ok {
			mount = e.Path
		}
	}
	for _, s := range p.Steps {
		if w, ok := s.(WritePolicy); ok {
			if err := CheckServicePolicy(w.Policy, mount, w.Service); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vault: invalid plan: %s", strings.Join(errs, "; "))
	}
	return nil
}
