package vault

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Profile selects the deployment shape.
type Profile string

// Profiles. Staging has the production shape (HA raft) so that it tests it.
const (
	ProfileDev     Profile = "dev"
	ProfileStaging Profile = "staging"
	ProfileProd    Profile = "prod"
)

// Distribution selects which implementation is installed: HashiCorp Vault
// (BUSL licence) or OpenBao (MPL-2.0). Both speak the same API.
type Distribution string

// Distributions.
const (
	DistributionVault   Distribution = "vault"
	DistributionOpenBao Distribution = "openbao"
)

// Args configures a Vault (or OpenBao) installation and its per-service
// configuration. Zero values take the documented defaults.
type Args struct {
	// Profile is dev (single dev-mode server, in-memory, unsealed, root
	// token "root") or staging/prod (HA, integrated raft storage, PDB).
	// Default dev.
	Profile Profile
	// Distribution is vault or openbao. Default vault.
	Distribution Distribution
	// Namespace for the server, injector and configuration Job. It must
	// exist (the caller creates namespaces). Default "vault".
	Namespace string
	// ReleaseName of the Helm release; also the Service name the server is
	// reached at. Default: the distribution name ("vault" or "openbao").
	ReleaseName string
	// InstallOperators installs the upstream chart. When false no chart is
	// created (the server is expected to exist already, e.g. the offline
	// end-to-end test). Default true.
	InstallOperators *bool
	// Configure creates the configuration Job (auth, mount, policies, roles,
	// seed secrets). Default true.
	Configure *bool

	// HAReplicas is the number of raft servers in staging/prod. Must be odd
	// and >= 3. Default 3.
	HAReplicas int
	// InjectorReplicas is the agent injector's replica count. Default 1 in
	// dev, 2 otherwise.
	InjectorReplicas int
	// StorageSize of each raft server's volume (staging/prod). Default "10Gi".
	StorageSize string
	// StorageClass for the raft volumes; empty uses the cluster default.
	StorageClass string

	// Address the configuration Job uses to reach the server. Default
	// "http://<ReleaseName>.<Namespace>.svc:8200" (the chart's Service).
	Address string
	// AdminToken is a token allowed to configure the server (a Pulumi
	// secret). Default in dev: "root", the chart's dev root token. Required
	// in staging/prod, where the server is initialised by an operator.
	AdminToken pulumi.StringInput
	// ConfigImage runs the configuration Job; it must contain the CLI
	// (vault or bao). Default: the distribution's image at the pinned
	// chart's app version.
	ConfigImage string

	// KVMount is the KV v2 mount holding service secrets. Default "secret".
	KVMount string
	// AuthPath is the Kubernetes auth method's mount path. Default
	// "kubernetes".
	AuthPath string
	// KubernetesHost is the API server address Vault uses for TokenReview.
	// Default "https://kubernetes.default.svc".
	KubernetesHost string
	// KubernetesCACert is the API server CA (PEM). Optional: current Vault
	// running in the cluster reads its pod's CA; set it for an external
	// Vault (and for Vault < 1.9, which requires it).
	KubernetesCACert string
	// NamePrefix prefixes every policy and role this component manages.
	// Policies and roles with this prefix that are not declared are
	// deleted on the next run, so the prefix must be reserved for
	// ordermesh. Default "ordermesh-".
	NamePrefix string
	// TokenTTL of tokens issued to services at login (Vault duration).
	// Default "1h".
	TokenTTL string
	// Audience, if set, is required in the service account token's aud
	// claim at login.
	Audience string

	// Services that get a policy, a role and (optionally) seed secrets.
	Services []Service
}

// Service declares one workload that reads secrets from Vault.
type Service struct {
	// Name of the service (DNS label). Its secrets live under
	// <KVMount>/data/<Name>/.
	Name string
	// Namespace of the service's ServiceAccount. Required.
	Namespace string
	// ServiceAccount the role is bound to. Default: Name.
	ServiceAccount string
	// Secrets seeded once under the service's prefix: written only when
	// the path does not exist yet (check-and-set 0), never overwritten, so
	// rotated values are kept.
	Secrets []SeedSecret
}

// SeedSecret is an initial secret for a service.
type SeedSecret struct {
	// Path below the service's prefix, e.g. "db" or "gateway/api". Segments
	// are lower-case alphanumerics, '-' or '_'.
	Path string
	// Data is the key/value content; pass Pulumi secrets.
	Data pulumi.StringMapInput
}

const (
	defaultNamespace      = "vault"
	defaultKVMount        = "secret"
	defaultAuthPath       = "kubernetes"
	defaultKubernetesHost = "https://kubernetes.default.svc"
	defaultNamePrefix     = "ordermesh-"
	defaultTokenTTL       = "1h"
	defaultHAReplicas     = 3
	defaultStorageSize    = "10Gi"
	devRootToken          = "root"
)

// applyDefaults returns a copy of a with defaults filled in.
func (a Args) applyDefaults() Args {
	if a.Profile == "" {
		a.Profile = ProfileDev
	}
	if a.Distribution == "" {
		a.Distribution = DistributionVault
	}
	if a.Namespace == "" {
		a.Namespace = defaultNamespace
	}
	if a.ReleaseName == "" {
		a.ReleaseName = string(a.Distribution)
	}
	if a.InstallOperators == nil {
		a.InstallOperators = pulumi.BoolRef(true)
	}
	if a.Configure == nil {
		a.Configure = pulumi.BoolRef(true)
	}
	if a.HAReplicas == 0 {
		a.HAReplicas = defaultHAReplicas
	}
	if a.InjectorReplicas == 0 {
		a.InjectorReplicas = 2
		if a.Profile == ProfileDev {
			a.InjectorReplicas = 1
		}
	}
	if a.StorageSize == "" {
		a.StorageSize = defaultStorageSize
	}
	if a.Address == "" {
		a.Address = fmt.Sprintf("http://%s.%s.svc:8200", a.ReleaseName, a.Namespace)
	}
	if a.AdminToken == nil && a.Profile == ProfileDev {
		a.AdminToken = pulumi.ToSecret(pulumi.String(devRootToken)).(pulumi.StringOutput)
	}
	if a.ConfigImage == "" {
		a.ConfigImage = defaultConfigImage(a.Distribution)
	}
	if a.KVMount == "" {
		a.KVMount = defaultKVMount
	}
	if a.AuthPath == "" {
		a.AuthPath = defaultAuthPath
	}
	if a.KubernetesHost == "" {
		a.KubernetesHost = defaultKubernetesHost
	}
	if a.NamePrefix == "" {
		a.NamePrefix = defaultNamePrefix
	}
	if a.TokenTTL == "" {
		a.TokenTTL = defaultTokenTTL
	}
	services := make([]Service, len(a.Services))
	for i, s := range a.Services {
		if s.ServiceAccount == "" {
			s.ServiceAccount = s.Name
		}
		services[i] = s
	}
	a.Services = services
	return a
}

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	mountPath   = regexp.MustCompile(`^[a-z0-9][-_a-z0-9]*$`)
	seedSegment = regexp.MustCompile(`^[a-z0-9][-_a-z0-9]*$`)
	namePrefix  = regexp.MustCompile(`^[a-z0-9][-a-z0-9]*-$`)
	duration    = regexp.MustCompile(`^[0-9]+[smh]$`)
)

// validate returns every problem of a (after defaults), each naming the
// field, the bad value and what is allowed.
func (a Args) validate() error {
	var p []string
	add := func(format string, v ...any) { p = append(p, fmt.Sprintf(format, v...)) }

	switch a.Profile {
	case ProfileDev, ProfileStaging, ProfileProd:
	default:
		add("Profile = %q: must be dev, staging or prod", a.Profile)
	}
	switch a.Distribution {
	case DistributionVault, DistributionOpenBao:
	default:
		add("Distribution = %q: must be vault or openbao", a.Distribution)
	}
	if !dnsLabel.MatchString(a.Namespace) {
		add("Namespace = %q: must be a DNS label", a.Namespace)
	}
	if !dnsLabel.MatchString(a.ReleaseName) || len(a.ReleaseName) > 40 {
		add("ReleaseName = %q: must be a DNS label of at most 40 characters", a.ReleaseName)
	}
	if a.Profile != ProfileDev {
		if a.HAReplicas < 3 || a.HAReplicas%2 == 0 {
			add("HAReplicas = %d: must be odd and >= 3 (raft quorum)", a.HAReplicas)
		}
		if *a.Configure && a.AdminToken == nil {
			add("AdminToken = nil: required in %s (a token allowed to configure the initialised server)", a.Profile)
		}
	}
	if a.InjectorReplicas < 1 {
		add("InjectorReplicas = %d: must be >= 1", a.InjectorReplicas)
	}
	if !strings.HasPrefix(a.Address, "http://") && !strings.HasPrefix(a.Address, "https://") {
		add("Address = %q: must be an http:// or https:// URL", a.Address)
	}
	if !mountPath.MatchString(a.KVMount) {
		add("KVMount = %q: must be one path segment of [a-z0-9-_]", a.KVMount)
	}
	if !mountPath.MatchString(a.AuthPath) {
		add("AuthPath = %q: must be one path segment of [a-z0-9-_]", a.AuthPath)
	}
	if !strings.HasPrefix(a.KubernetesHost, "https://") {
		add("KubernetesHost = %q: must be an https:// URL", a.KubernetesHost)
	}
	if a.KubernetesCACert != "" && !strings.Contains(a.KubernetesCACert, "-----BEGIN CERTIFICATE-----") {
		add("KubernetesCACert: must be a PEM certificate")
	}
	if !namePrefix.MatchString(a.NamePrefix) {
		add("NamePrefix = %q: must be lower-case alphanumerics/'-' ending in '-'", a.NamePrefix)
	}
	if !duration.MatchString(a.TokenTTL) {
		add("TokenTTL = %q: must be a duration like 30m or 1h", a.TokenTTL)
	}
	seen := map[string]bool{}
	for i, s := range a.Services {
		field := fmt.Sprintf("Services[%d]", i)
		if !dnsLabel.MatchString(s.Name) {
			add("%s.Name = %q: must be a DNS label", field, s.Name)
		}
		if seen[s.Name] {
			add("%s.Name = %q: duplicate service", field, s.Name)
		}
		seen[s.Name] = true
		if !dnsLabel.MatchString(s.Namespace) {
			add("%s.Namespace = %q: must be a DNS label", field, s.Namespace)
		}
		if !dnsLabel.MatchString(s.ServiceAccount) {
			add("%s.ServiceAccount = %q: must be a DNS label", field, s.ServiceAccount)
		}
		paths := map[string]bool{}
		for j, sec := range s.Secrets {
			sf := fmt.Sprintf("%s.Secrets[%d]", field, j)
			for _, seg := range strings.Split(sec.Path, "/") {
				if !seedSegment.MatchString(seg) {
					add("%s.Path = %q: must be '/'-separated segments of [a-z0-9-_]", sf, sec.Path)
					break
				}
			}
			if paths[sec.Path] {
				add("%s.Path = %q: duplicate secret path", sf, sec.Path)
			}
			paths[sec.Path] = true
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("vault: invalid args:\n  %s", strings.Join(p, "\n  "))
	}
	return nil
}
