// Package k3s turns a list of plain VPS hosts into a k3s cluster inside `pulumi up`, through the ordermesh
// provider plugin (bin/pulumi-resource-ordermesh), which drives the hosts over SSH.
package k3s

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/k3s/provider"
)

// PluginVersion is the ordermesh provider plugin version this component asks the engine for; mk/k3s.mk
// stamps the same value into the binary.
const PluginVersion = "0.1.0"

// Role is what a host runs.
type Role string

const (
	// Server runs the k3s control plane (the first one initialises the cluster).
	Server Role = "server"
	// Agent runs workloads and joins a server.
	Agent Role = "agent"
)

// Host is one machine.
type Host struct {
	// Name is the Kubernetes node name (lower-case DNS-1123), also the resource name.
	Name string
	// Address is how ordermesh reaches the host over SSH and how the world reaches it (IP or DNS).
	Address string
	// PrivateAddress is what other nodes use to reach it (agents join, firewall peers). Default: Address.
	PrivateAddress string
	// Port is the SSH port. Default: 22.
	Port int
	// User is the SSH login. Default: "root".
	User string
	// PrivateKey is the SSH private key (OpenSSH/PEM); pass a Pulumi secret (config.RequireSecret).
	PrivateKey pulumi.StringInput
	// HostKey is the host's public key, pinned ("ssh-ed25519 AAAA..."); any other key is refused.
	HostKey string
	// Role is Server or Agent.
	Role Role
	// RootPrefix prefixes every path ordermesh and k3s write on the host. Default: "/".
	RootPrefix string
}

// Artifact is where one install input comes from: a URL the host downloads, or a local file uploaded
// over SSH (air-gapped). SHA256 pins it; empty means "look it up in Install.ChecksumsURL".
type Artifact struct {
	URL       string
	LocalPath string
	SHA256    string
}

// Install pins what gets installed.
type Install struct {
	// Version is the k3s release. Default: v1.36.4+k3s1. Changing it upgrades node by node, servers first.
	Version string
	// Arch selects release assets. Default: amd64.
	Arch string
	// Binary, Images, InstallScript default to the GitHub release of Version (install.sh from the
	// release tag). Set Images to &Artifact{} to install without the air-gap images tarball.
	Binary, Images, InstallScript *Artifact
	// ChecksumsURL is the release's sha256sum file. Default: the release's sha256sum-<arch>.txt
	// when any artifact comes from a URL without SHA256.
	ChecksumsURL string
}

// Firewall is the nftables baseline for public hosts: only PublicTCPPorts open to the world,
// k3s node-to-node ports open between the hosts, everything else inbound dropped.
type Firewall struct {
	Enabled bool
	// PublicTCPPorts. Default: 22, 6443, 80, 443.
	PublicTCPPorts []int
}

// Args configures the cluster.
type Args struct {
	// Hosts: at least one Server; addresses unique.
	Hosts []Host
	// Token is the cluster token (a Pulumi secret). Default: nil, k3s generates one on the first server
	// and it is read back as a secret.
	Token pulumi.StringInput
	// APIAddress is the API server address written into the kubeconfig and added as --tls-san.
	// Default: the first server's Address.
	APIAddress string
	// TLSSANs are extra --tls-san names.
	TLSSANs []string
	// Disable lists packaged components the platform replaces. Default: traefik, servicelb.
	Disable []string
	// ExtraServerArgs and ExtraAgentArgs are appended to the k3s command line.
	ExtraServerArgs, ExtraAgentArgs []string
	Install                         Install
	// Firewall is off unless Enabled.
	Firewall Firewall
	// Drain nodes before upgrades and agent removal. Default: true (a single-node cluster never drains).
	Drain *bool
	// ReadyTimeoutSeconds bounds each node's readiness wait. Default: 300.
	ReadyTimeoutSeconds int
	// DrainTimeoutSeconds bounds each drain. Default: 300.
	DrainTimeoutSeconds int
}

// Cluster is the provisioned k3s cluster.
type Cluster struct {
	pulumi.ResourceState

	// Kubeconfig is the admin kubeconfig pointing at APIAddress (secret). Feed it to a kubernetes Provider.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// ServerURL is https://<first server private address>:6443.
	ServerURL pulumi.StringOutput `pulumi:"serverUrl"`
	// Version is the k3s version the first server reports.
	Version pulumi.StringOutput `pulumi:"version"`
}

// Node is one host's k3s install, a resource of the ordermesh provider.
type Node struct {
	pulumi.CustomResourceState

	InstalledVersion pulumi.StringOutput `pulumi:"installedVersion"`
	Kubeconfig       pulumi.StringOutput `pulumi:"kubeconfig"`
	NodeToken        pulumi.StringOutput `pulumi:"nodeToken"`
}

type preflight struct{ pulumi.CustomResourceState }

func (a *Args) applyDefaults() {
	for i := range a.Hosts {
		h := &a.Hosts[i]
		if h.Port == 0 {
			h.Port = 22
		}
		if h.User == "" {
			h.User = "root"
		}
		if h.RootPrefix == "" {
			h.RootPrefix = "/"
		}
		if h.PrivateAddress == "" {
			h.PrivateAddress = h.Address
		}
	}
	if a.APIAddress == "" {
		for _, h := range a.Hosts {
			if h.Role == Server {
				a.APIAddress = h.Address
				break
			}
		}
	}
	if a.Disable == nil {
		a.Disable = []string{"traefik", "servicelb"}
	}
	if a.Install.Version == "" {
		a.Install.Version = provider.DefaultVersion
	}
	if a.Install.Arch == "" {
		a.Install.Arch = "amd64"
	}
	if a.Firewall.Enabled && a.Firewall.PublicTCPPorts == nil {
		a.Firewall.PublicTCPPorts = []int{22, 6443, 80, 443}
	}
	if a.Drain == nil {
		t := true
		a.Drain = &t
	}
	if a.ReadyTimeoutSeconds == 0 {
		a.ReadyTimeoutSeconds = 300
	}
	if a.DrainTimeoutSeconds == 0 {
		a.DrainTimeoutSeconds = 300
	}
}

var (
	nodeNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)
	versionRe  = regexp.MustCompile(`^v\d+\.\d+\.\d+\+k3s\d+$`)
	hexRe      = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// validate returns every problem at once, each naming the field, the bad value and what is allowed.
func (a *Args) validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if len(a.Hosts) == 0 {
		bad("k3s: hosts is empty: list at least one host with role server")
	}
	servers := 0
	names := map[string]int{}
	addrs := map[string]int{}
	for i, h := range a.Hosts {
		f := fmt.Sprintf("hosts[%d]", i)
		switch h.Role {
		case Server:
			servers++
		case Agent:
		default:
			bad("k3s: %s.role = %q: must be %q or %q", f, h.Role, Server, Agent)
		}
		if !nodeNameRe.MatchString(h.Name) {
			bad("k3s: %s.name = %q: must be a lower-case DNS-1123 name", f, h.Name)
		} else if j, dup := names[h.Name]; dup {
			bad("k3s: %s.name = %q: duplicates hosts[%d].name; names must be unique", f, h.Name, j)
		}
		names[h.Name] = i
		if h.Address == "" {
			bad("k3s: %s.address is empty: set the host's IP or DNS name", f)
		}
		key := net.JoinHostPort(h.Address, fmt.Sprint(h.Port)) + h.RootPrefix
		if j, dup := addrs[key]; dup {
			bad("k3s: %s.address = %q (port %d): duplicates hosts[%d]; each host may appear once", f, h.Address, h.Port, j)
		}
		addrs[key] = i
		if h.Port < 1 || h.Port > 65535 {
			bad("k3s: %s.port = %d: must be 1..65535", f, h.Port)
		}
		if h.PrivateKey == nil {
			bad("k3s: %s.privateKey is nil: pass the SSH private key as a Pulumi secret", f)
		}
		if !strings.HasPrefix(h.HostKey, "ssh-") && !strings.HasPrefix(h.HostKey, "ecdsa-") {
			bad("k3s: %s.hostKey = %q: pin the host's public key, e.g. \"ssh-ed25519 AAAA...\" from ssh-keyscan", f, h.HostKey)
		}
		if !path.IsAbs(h.RootPrefix) {
			bad("k3s: %s.rootPrefix = %q: must be an absolute path", f, h.RootPrefix)
		}
	}
	if len(a.Hosts) > 0 && servers == 0 {
		bad("k3s: no host has role %q: a cluster needs at least one server", Server)
	}
	if !versionRe.MatchString(a.Install.Version) {
		bad("k3s: install.version = %q: must look like %s", a.Install.Version, provider.DefaultVersion)
	}
	for name, art := range map[string]*Artifact{"binary": a.Install.Binary, "images": a.Install.Images, "installScript": a.Install.InstallScript} {
		if art == nil {
			continue
		}
		if art.URL != "" && art.LocalPath != "" {
			bad("k3s: install.%s sets both url and localPath: choose one", name)
		}
		if art.SHA256 != "" && !hexRe.MatchString(art.SHA256) {
			bad("k3s: install.%s.sha256 = %q: must be 64 lower-case hex digits", name, art.SHA256)
		}
	}
	for _, p := range a.Firewall.PublicTCPPorts {
		if p < 1 || p > 65535 {
			bad("k3s: firewall.publicTcpPorts contains %d: must be 1..65535", p)
		}
	}
	return errors.Join(errs...)
}

// NewCluster provisions k3s on args.Hosts. Servers are installed first, then agents, one node at a
// time (so an upgrade rolls node by node); a preflight resource connects to every host first, so a bad
// host fails the update before any host changes.
func NewCluster(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	a.Hosts = append([]Host(nil), args.Hosts...)
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("ordermesh:k3s:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	child := []pulumi.ResourceOption{pulumi.Parent(c), pulumi.Version(PluginVersion)}

	// Servers first, in the given order, then agents.
	var ordered []Host
	for _, r := range []Role{Server, Agent} {
		for _, h := range a.Hosts {
			if h.Role == r {
				ordered = append(ordered, h)
			}
		}
	}

	hosts := pulumi.Array{}
	for _, h := range ordered {
		hosts = append(hosts, pulumi.Map{
			"name": pulumi.String(h.Name), "role": pulumi.String(string(h.Role)), "host": pulumi.String(h.Address),
			"port": pulumi.Int(h.Port), "user": pulumi.String(h.User), "privateKey": h.PrivateKey,
			"hostKey": pulumi.String(h.HostKey), "rootPrefix": pulumi.String(h.RootPrefix),
		})
	}
	var pf preflight
	if err := ctx.RegisterResource(provider.TypePreflight, name+"-preflight",
		pulumi.Map{"hosts": pulumi.ToSecret(hosts)}, &pf, child...); err != nil {
		return nil, fmt.Errorf("k3s: preflight: %w", err)
	}

	first := ordered[0]
	serverURL := "https://" + net.JoinHostPort(first.PrivateAddress, "6443")
	multiNode := len(ordered) > 1
	servers := 0
	for _, h := range ordered {
		if h.Role == Server {
			servers++
		}
	}

	var firstServer *Node
	var prev pulumi.Resource = &pf
	for i, h := range ordered {
		props := a.nodeProps(h, ordered)
		props["drain"] = pulumi.Bool(*a.Drain && multiNode)
		switch {
		case i == 0:
			if a.Token != nil {
				props["token"] = pulumi.ToSecret(a.Token)
			}
			props["extraArgs"] = pulumi.ToStringArray(withClusterInit(a.ExtraServerArgs, servers > 1))
		case h.Role == Server:
			props["token"] = pulumi.ToSecret(firstServer.NodeToken)
			props["serverUrl"] = pulumi.String(serverURL)
			props["extraArgs"] = pulumi.ToStringArray(a.ExtraServerArgs)
		default:
			props["token"] = pulumi.ToSecret(firstServer.NodeToken)
			props["serverUrl"] = pulumi.String(serverURL)
			props["extraArgs"] = pulumi.ToStringArray(a.ExtraAgentArgs)
			props["drainKubeconfig"] = pulumi.ToSecret(firstServer.Kubeconfig)
		}
		if h.Role == Server {
			props["apiAddress"] = pulumi.String(a.APIAddress)
			props["tlsSans"] = pulumi.ToStringArray(a.TLSSANs)
			props["disable"] = pulumi.ToStringArray(a.Disable)
		}
		typ := provider.TypeServerNode
		if h.Role == Agent {
			typ = provider.TypeAgentNode
		}
		n := &Node{}
		err := ctx.RegisterResource(typ, name+"-"+h.Name, props, n, append(child,
			pulumi.DependsOn([]pulumi.Resource{prev}),
			pulumi.AdditionalSecretOutputs([]string{"kubeconfig", "nodeToken", "token", "privateKey", "drainKubeconfig"}),
		)...)
		if err != nil {
			return nil, fmt.Errorf("k3s: node %q: %w", h.Name, err)
		}
		if i == 0 {
			firstServer = n
		}
		prev = n
	}

	c.Kubeconfig = pulumi.ToSecret(firstServer.Kubeconfig).(pulumi.StringOutput)
	c.ServerURL = pulumi.String(serverURL).ToStringOutput()
	c.Version = firstServer.InstalledVersion
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"kubeconfig": c.Kubeconfig, "serverUrl": c.ServerURL, "version": c.Version,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func withClusterInit(extra []string, ha bool) []string {
	if !ha {
		return extra
	}
	return append([]string{"--cluster-init"}, extra...)
}

// nodeProps are the inputs common to servers and agents.
func (a *Args) nodeProps(h Host, all []Host) pulumi.Map {
	m := pulumi.Map{
		"host": pulumi.String(h.Address), "port": pulumi.Int(h.Port), "user": pulumi.String(h.User),
		"privateKey": pulumi.ToSecret(h.PrivateKey), "hostKey": pulumi.String(h.HostKey),
		"nodeName": pulumi.String(h.Name), "rootPrefix": pulumi.String(h.RootPrefix),
		"version": pulumi.String(a.Install.Version), "arch": pulumi.String(a.Install.Arch),
		"readyTimeoutSeconds": pulumi.Int(a.ReadyTimeoutSeconds),
		"drainTimeoutSeconds": pulumi.Int(a.DrainTimeoutSeconds),
	}
	if a.Install.ChecksumsURL != "" {
		m["checksumsUrl"] = pulumi.String(a.Install.ChecksumsURL)
	}
	for key, art := range map[string]*Artifact{"binary": a.Install.Binary, "images": a.Install.Images, "installScript": a.Install.InstallScript} {
		if art != nil {
			m[key] = pulumi.Map{"url": pulumi.String(art.URL), "localPath": pulumi.String(art.LocalPath), "sha256": pulumi.String(art.SHA256)}
		}
	}
	if a.Firewall.Enabled {
		var peers []string
		for _, o := range all {
			if o.Name != h.Name {
				peers = append(peers, o.PrivateAddress)
			}
		}
		ports := make(pulumi.IntArray, len(a.Firewall.PublicTCPPorts))
		for i, p := range a.Firewall.PublicTCPPorts {
			ports[i] = pulumi.Int(p)
		}
		m["firewall"] = pulumi.Map{"enabled": pulumi.Bool(true), "peers": pulumi.ToStringArray(peers), "publicTcpPorts": ports}
	}
	return m
}
