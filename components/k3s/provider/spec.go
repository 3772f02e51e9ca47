package provider

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/ordermesh/ordermesh/components/k3s/sshx"
)

// Role is what a node runs: a k3s server (control plane) or an agent (worker).
type Role string

const (
	RoleServer Role = "server"
	RoleAgent  Role = "agent"
)

// DefaultVersion is the pinned k3s release (DESIGN.md §9).
const DefaultVersion = "v1.36.4+k3s1"

// Artifact is one install input: fetched by the host from URL, or uploaded over SSH from LocalPath on
// the machine running Pulumi (air-gapped). SHA256 pins the content; when empty, the digest is looked up
// in the release checksum file (NodeSpec.ChecksumsURL) under the artifact's file name.
type Artifact struct {
	URL       string `json:"url,omitempty"`
	LocalPath string `json:"localPath,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

func (a *Artifact) empty() bool { return a == nil || (a.URL == "" && a.LocalPath == "") }

// Firewall is the optional nftables baseline for a public VPS.
type Firewall struct {
	Enabled bool `json:"enabled"`
	// Peers are the other nodes' addresses, allowed to reach the node-to-node ports.
	Peers []string `json:"peers,omitempty"`
	// PublicTCPPorts are open to the world; default 22, 6443, 80, 443.
	PublicTCPPorts []int `json:"publicTcpPorts,omitempty"`
	// ApplyCommand loads the rendered ruleset file (its path is appended); default "nft -f".
	ApplyCommand string `json:"applyCommand,omitempty"`
	// RemoveCommand drops the table on uninstall; default "nft delete table inet ordermesh".
	RemoveCommand string `json:"removeCommand,omitempty"`
}

// NodeSpec is the wire shape of a ServerNode/AgentNode's inputs (property names are the JSON tags).
type NodeSpec struct {
	Host       string `json:"host"`
	Port       int    `json:"port,omitempty"`
	User       string `json:"user"`
	PrivateKey string `json:"privateKey"` // secret
	HostKey    string `json:"hostKey"`
	NodeName   string `json:"nodeName"`
	// RootPrefix prefixes every host path (default "/"); tests run several "hosts" on one machine.
	RootPrefix string `json:"rootPrefix,omitempty"`
	Version    string `json:"version,omitempty"`
	Arch       string `json:"arch,omitempty"`

	Binary        *Artifact `json:"binary,omitempty"`
	Images        *Artifact `json:"images,omitempty"`
	InstallScript *Artifact `json:"installScript,omitempty"`
	ChecksumsURL  string    `json:"checksumsUrl,omitempty"`

	// Token: server — the cluster token (empty lets k3s generate one); agent — the join token.
	Token string `json:"token,omitempty"` // secret
	// ServerURL is what agents join (https://server:6443).
	ServerURL string `json:"serverUrl,omitempty"`
	// APIAddress is the server's public address: a --tls-san and the kubeconfig's server host.
	APIAddress string   `json:"apiAddress,omitempty"`
	TLSSANs    []string `json:"tlsSans,omitempty"`
	Disable    []string `json:"disable,omitempty"`
	ExtraArgs  []string `json:"extraArgs,omitempty"`

	// Drain the node before an upgrade (and before removal). Agents drain through DrainKubeconfig
	// (the server's admin kubeconfig, secret); servers through their own.
	Drain               bool   `json:"drain,omitempty"`
	DrainKubeconfig     string `json:"drainKubeconfig,omitempty"` // secret
	DrainTimeoutSeconds int    `json:"drainTimeoutSeconds,omitempty"`
	ReadyTimeoutSeconds int    `json:"readyTimeoutSeconds,omitempty"`

	Firewall *Firewall `json:"firewall,omitempty"`
}

// NodeState is the wire shape of a node's outputs: its inputs plus what was read back from the host.
type NodeState struct {
	NodeSpec
	InstalledVersion string `json:"installedVersion"`
	Kubeconfig       string `json:"kubeconfig,omitempty"` // secret; servers only
	NodeToken        string `json:"nodeToken,omitempty"`  // secret; servers only
}

// secretKeys are the top-level properties always marked secret on the wire.
var secretKeys = []string{"privateKey", "token", "drainKubeconfig", "kubeconfig", "nodeToken"}

// withDefaults fills the documented defaults; it never mutates s.
func (s NodeSpec) withDefaults(role Role) NodeSpec {
	if s.Port == 0 {
		s.Port = 22
	}
	if s.RootPrefix == "" {
		s.RootPrefix = "/"
	}
	if s.Version == "" {
		s.Version = DefaultVersion
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	rel := "https://github.com/k3s-io/k3s/releases/download/" + url.PathEscape(s.Version)
	if s.Binary == nil {
		s.Binary = &Artifact{URL: rel + "/" + binaryAssetName(s.Arch)}
	}
	if s.Images == nil {
		s.Images = &Artifact{URL: rel + "/" + imagesAssetName(s.Arch)}
	}
	if s.InstallScript == nil {
		// Pinned to the release tag rather than get.k3s.io, which moves.
		s.InstallScript = &Artifact{URL: "https://raw.githubusercontent.com/k3s-io/k3s/" + url.PathEscape(s.Version) + "/install.sh"}
	}
	if s.ChecksumsURL == "" && (s.Binary.URL != "" || s.Images.URL != "") {
		s.ChecksumsURL = rel + "/sha256sum-" + s.Arch + ".txt"
	}
	if role == RoleServer && s.Disable == nil {
		s.Disable = []string{"traefik", "servicelb"}
	}
	if s.DrainTimeoutSeconds == 0 {
		s.DrainTimeoutSeconds = 300
	}
	if s.ReadyTimeoutSeconds == 0 {
		s.ReadyTimeoutSeconds = 300
	}
	if s.Firewall != nil {
		f := *s.Firewall
		if f.PublicTCPPorts == nil {
			f.PublicTCPPorts = []int{22, 6443, 80, 443}
		}
		if f.ApplyCommand == "" {
			f.ApplyCommand = "nft -f"
		}
		if f.RemoveCommand == "" {
			f.RemoveCommand = "nft delete table inet ordermesh"
		}
		s.Firewall = &f
	}
	return s
}

func binaryAssetName(arch string) string {
	if arch == "amd64" {
		return "k3s"
	}
	return "k3s-" + arch
}

func imagesAssetName(arch string) string { return "k3s-airgap-images-" + arch + ".tar.zst" }

var (
	versionRe  = regexp.MustCompile(`^v\d+\.\d+\.\d+\+k3s\d+$`)
	sha256Re   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	nodeNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)
)

// Failure is one invalid input: the property and why.
type Failure struct{ Property, Reason string }

// validate returns every problem at once; unknown names properties not yet known (preview) and skipped.
func (s NodeSpec) validate(role Role, unknown map[string]bool) []Failure {
	var fs []Failure
	add := func(p, format string, a ...any) {
		if !unknown[p] {
			fs = append(fs, Failure{p, fmt.Sprintf(format, a...)})
		}
	}
	if s.Host == "" {
		add("host", "host is required (an IP address or DNS name)")
	}
	if s.Port < 1 || s.Port > 65535 {
		add("port", "port = %d: must be 1..65535", s.Port)
	}
	if s.User == "" {
		add("user", "user is required (the SSH login)")
	}
	if _, err := ssh.ParsePrivateKey([]byte(s.PrivateKey)); err != nil {
		add("privateKey", "privateKey does not parse as an SSH private key: %v", err)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKey)); err != nil {
		add("hostKey", "hostKey = %q: must be a pinned public key like \"ssh-ed25519 AAAA...\" (ssh-keyscan output without the host name): %v", s.HostKey, err)
	}
	if !nodeNameRe.MatchString(s.NodeName) {
		add("nodeName", "nodeName = %q: must be a lower-case DNS-1123 name", s.NodeName)
	}
	if !path.IsAbs(s.RootPrefix) {
		add("rootPrefix", "rootPrefix = %q: must be an absolute path", s.RootPrefix)
	}
	if !versionRe.MatchString(s.Version) {
		add("version", "version = %q: must look like v1.36.4+k3s1", s.Version)
	}
	for _, a := range []struct {
		name     string
		art      *Artifact
		optional bool
	}{{"binary", s.Binary, false}, {"images", s.Images, true}, {"installScript", s.InstallScript, false}} {
		if a.art.empty() {
			if !a.optional {
				add(a.name, "%s needs a url or a localPath", a.name)
			}
			continue
		}
		if a.art.URL != "" && a.art.LocalPath != "" {
			add(a.name, "%s: set url or localPath, not both", a.name)
		}
		if a.art.SHA256 != "" && !sha256Re.MatchString(a.art.SHA256) {
			add(a.name, "%s.sha256 = %q: must be 64 lower-case hex digits", a.name, a.art.SHA256)
		}
		if a.name != "installScript" && a.art.URL != "" && a.art.SHA256 == "" && s.ChecksumsURL == "" {
			add(a.name, "%s has no sha256 and no checksumsUrl to look it up in", a.name)
		}
	}
	switch role {
	case RoleAgent:
		if u, err := url.Parse(s.ServerURL); err != nil || u.Scheme != "https" || u.Host == "" {
			add("serverUrl", "serverUrl = %q: agents need the server's https URL, e.g. https://203.0.113.10:6443", s.ServerURL)
		}
		if s.Token == "" {
			add("token", "token is required for agents (the server's node token)")
		}
		if s.Drain && s.DrainKubeconfig == "" {
			add("drainKubeconfig", "drain is set but drainKubeconfig is empty: agents drain through the server's kubeconfig")
		}
	case RoleServer:
		if s.APIAddress == "" {
			add("apiAddress", "apiAddress is required: the address clients use for the API server (a --tls-san and the kubeconfig's server)")
		}
	}
	if f := s.Firewall; f != nil {
		for _, p := range f.Peers {
			if net.ParseIP(p) == nil && !isCIDR(p) {
				add("firewall", "firewall.peers: %q is not an IP address or CIDR", p)
			}
		}
		for _, p := range f.PublicTCPPorts {
			if p < 1 || p > 65535 {
				add("firewall", "firewall.publicTcpPorts: %d must be 1..65535", p)
			}
		}
	}
	return fs
}

func isCIDR(s string) bool { _, _, err := net.ParseCIDR(s); return err == nil }

func (s NodeSpec) target() sshx.Target {
	return sshx.Target{Address: s.Host, Port: s.Port, User: s.User, PrivateKey: s.PrivateKey, HostKey: s.HostKey}
}

// id is stable for the host and root: two nodes may share an address only under different roots.
func (s NodeSpec) id() string {
	return s.target().Endpoint() + strings.TrimSuffix(s.RootPrefix, "/")
}
