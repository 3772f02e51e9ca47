package provider

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/ordermesh/ordermesh/components/k3s/sshx"
)

// layout is where k3s and ordermesh keep things on a host, under the root prefix.
type layout struct{ root string }

func (l layout) p(parts ...string) string { return path.Join(append([]string{l.root}, parts...)...) }
func (l layout) binDir() string           { return l.p("usr/local/bin") }
func (l layout) k3s() string              { return l.p("usr/local/bin/k3s") }
func (l layout) dataDir() string          { return l.p("var/lib/rancher/k3s") }
func (l layout) imagesDir() string        { return l.p("var/lib/rancher/k3s/agent/images") }
func (l layout) kubeconfig() string       { return l.p("etc/rancher/k3s/k3s.yaml") }
func (l layout) nodeToken() string        { return l.p("var/lib/rancher/k3s/server/node-token") }
func (l layout) agentKubeconfig() string  { return l.p("var/lib/rancher/k3s/agent/kubelet.kubeconfig") }
func (l layout) systemdDir() string       { return l.p("etc/systemd/system") }
func (l layout) stageDir() string         { return l.p("var/lib/ordermesh") }
func (l layout) installScript() string    { return l.p("var/lib/ordermesh/k3s-install.sh") }
func (l layout) firewallFile() string     { return l.p("etc/ordermesh/firewall.nft") }
func (l layout) uninstall(r Role) string {
	if r == RoleAgent {
		return l.p("usr/local/bin/k3s-agent-uninstall.sh")
	}
	return l.p("usr/local/bin/k3s-uninstall.sh")
}

// node drives one host over SSH.
type node struct {
	role Role
	spec NodeSpec
	l    layout
	c    *sshx.Client
	log  func(string)
}

func connect(ctx context.Context, role Role, spec NodeSpec, logf func(string)) (*node, error) {
	spec = spec.withDefaults(role)
	c, err := sshx.Dial(ctx, spec.target())
	if err != nil {
		return nil, fmt.Errorf("k3s %s %q: %w", role, spec.NodeName, err)
	}
	if logf == nil {
		logf = func(string) {}
	}
	return &node{role: role, spec: spec, l: layout{spec.RootPrefix}, c: c, log: logf}, nil
}

func (n *node) close() { n.c.Close() }

func (n *node) errf(format string, a ...any) error {
	return fmt.Errorf("k3s %s %q (%s): %w", n.role, n.spec.NodeName, n.spec.target().Endpoint(), fmt.Errorf(format, a...))
}

func (n *node) run(ctx context.Context, cmd string) (string, error) { return n.c.Run(ctx, cmd, nil) }

// install brings the host to the spec: artifacts in place (skipped when the checksum already matches),
// installer run, readiness awaited, firewall applied. Safe to repeat.
func (n *node) install(ctx context.Context) error {
	if err := n.stageArtifacts(ctx); err != nil {
		return err
	}
	if err := n.applyFirewall(ctx); err != nil {
		return err
	}
	n.log("running the k3s installer")
	if err := n.runInstaller(ctx); err != nil {
		return err
	}
	return n.waitReady(ctx)
}

func (n *node) stageArtifacts(ctx context.Context) error {
	var sums map[string]string
	need := func(a *Artifact) bool { return a != nil && a.URL != "" && a.SHA256 == "" && n.spec.ChecksumsURL != "" }
	if need(n.spec.Binary) || need(n.spec.Images) {
		out, err := n.run(ctx, "curl -fsSL --retry 3 "+sshx.Quote(n.spec.ChecksumsURL))
		if err != nil {
			return n.errf("fetch checksums %s: %w", n.spec.ChecksumsURL, err)
		}
		sums = parseChecksums(out)
	}
	arts := []struct {
		name, asset, dest string
		art               *Artifact
		mode              uint32
	}{
		{"binary", binaryAssetName(n.spec.Arch), n.l.k3s(), n.spec.Binary, 0o755},
		{"images", imagesAssetName(n.spec.Arch), path.Join(n.l.imagesDir(), imagesAssetName(n.spec.Arch)), n.spec.Images, 0o644},
		{"installScript", "install.sh", n.l.installScript(), n.spec.InstallScript, 0o755},
	}
	for _, a := range arts {
		if a.art.empty() {
			continue
		}
		want := a.art.SHA256
		if want == "" && a.art.URL != "" && a.name != "installScript" {
			want = sums[a.asset]
			if want == "" {
				return n.errf("%s: no checksum for %q in %s", a.name, a.asset, n.spec.ChecksumsURL)
			}
		}
		if err := n.stage(ctx, a.name, a.dest, a.art, want, a.mode); err != nil {
			return err
		}
	}
	return nil
}

// stage puts one artifact at dest and verifies it on the host. want may be empty only for the
// install script fetched from a tag-pinned URL.
func (n *node) stage(ctx context.Context, name, dest string, a *Artifact, want string, mode uint32) error {
	if a.LocalPath != "" {
		got, err := fileSHA256(a.LocalPath)
		if err != nil {
			return n.errf("%s: %w", name, err)
		}
		if want != "" && got != want {
			return n.errf("%s: local file %s has sha256 %s, want %s", name, a.LocalPath, got, want)
		}
		want = got
	}
	if want != "" {
		if have, _ := n.remoteSHA256(ctx, dest); have == want {
			n.log(name + " already in place (sha256 matches), not transferred")
			return nil
		}
	}
	if a.LocalPath != "" {
		f, err := os.Open(a.LocalPath)
		if err != nil {
			return n.errf("%s: %w", name, err)
		}
		defer f.Close()
		n.log("uploading " + name + " from " + a.LocalPath)
		if err := n.c.Upload(ctx, dest, f, mode); err != nil {
			return n.errf("%s: %w", name, err)
		}
	} else {
		n.log("host downloads " + name + " from " + a.URL)
		tmp := dest + ".ordermesh-download"
		cmd := fmt.Sprintf("set -e; mkdir -p %s; curl -fsSL --retry 3 -o %s %s; chmod %o %s",
			sshx.Quote(path.Dir(dest)), sshx.Quote(tmp), sshx.Quote(a.URL), mode, sshx.Quote(tmp))
		if _, err := n.run(ctx, cmd); err != nil {
			return n.errf("%s: download: %w", name, err)
		}
		if want != "" {
			if have, err := n.remoteSHA256(ctx, tmp); err != nil || have != want {
				_, _ = n.run(ctx, "rm -f "+sshx.Quote(tmp))
				return n.errf("%s: downloaded %s has sha256 %q, want %s (%v)", name, a.URL, have, want, err)
			}
		}
		if _, err := n.run(ctx, "mv -f "+sshx.Quote(tmp)+" "+sshx.Quote(dest)); err != nil {
			return n.errf("%s: %w", name, err)
		}
	}
	if want == "" {
		return nil
	}
	if have, err := n.remoteSHA256(ctx, dest); err != nil || have != want {
		return n.errf("%s: %s on host has sha256 %q after transfer, want %s (%v)", name, dest, have, want, err)
	}
	return nil
}

func (n *node) remoteSHA256(ctx context.Context, p string) (string, error) {
	out, err := n.run(ctx, "sha256sum "+sshx.Quote(p))
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", errors.New("empty sha256sum output")
	}
	return f[0], nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseChecksums reads sha256sum output ("<hex>  <name>" per line).
func parseChecksums(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			m[strings.TrimPrefix(f[1], "*")] = f[0]
		}
	}
	return m
}

// execArgs is INSTALL_K3S_EXEC: the k3s subcommand and flags.
func (n *node) execArgs() []string {
	s := n.spec
	args := []string{string(n.role), "--node-name", s.NodeName}
	if s.RootPrefix != "/" {
		// Real k3s flags, so a prefixed root keeps k3s's own files inside it too.
		args = append(args, "--data-dir", n.l.dataDir())
		if n.role == RoleServer {
			args = append(args, "--write-kubeconfig", n.l.kubeconfig())
		}
	}
	if n.role == RoleServer {
		if s.ServerURL != "" {
			// An additional server joining the first (embedded etcd).
			args = append(args, "--server", s.ServerURL)
		}
		args = append(args, "--write-kubeconfig-mode", "0600")
		for _, san := range append([]string{s.APIAddress}, s.TLSSANs...) {
			args = append(args, "--tls-san", san)
		}
		for _, d := range s.Disable {
			args = append(args, "--disable", d)
		}
	}
	return append(args, s.ExtraArgs...)
}

func (n *node) runInstaller(ctx context.Context) error {
	env := []string{
		"INSTALL_K3S_SKIP_DOWNLOAD=true",
		"INSTALL_K3S_BIN_DIR=" + sshx.Quote(n.l.binDir()),
		"INSTALL_K3S_SYSTEMD_DIR=" + sshx.Quote(n.l.systemdDir()),
		"INSTALL_K3S_EXEC=" + sshx.Quote(shellJoin(n.execArgs())),
	}
	if n.role == RoleAgent {
		env = append(env, "K3S_URL="+sshx.Quote(n.spec.ServerURL))
	}
	// The token travels on stdin so it never appears in the host's process list.
	cmd := fmt.Sprintf("set -e; mkdir -p %s; IFS= read -r K3S_TOKEN || true; export K3S_TOKEN; [ -n \"$K3S_TOKEN\" ] || unset K3S_TOKEN; cd %s; env %s sh %s",
		sshx.Quote(n.l.systemdDir()), sshx.Quote(n.l.stageDir()), strings.Join(env, " "), sshx.Quote(n.l.installScript()))
	if _, err := n.c.Run(ctx, cmd, strings.NewReader(n.spec.Token+"\n")); err != nil {
		return n.errf("install: %w", err)
	}
	return nil
}

var plainArgRe = regexp.MustCompile(`^[-A-Za-z0-9_./:=+,@]+$`)

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if plainArgRe.MatchString(a) {
			q[i] = a
		} else {
			q[i] = sshx.Quote(a)
		}
	}
	return strings.Join(q, " ")
}

// readyCommand prints "ok" (server) or "True" (agent) once the node is ready.
func (n *node) readyCommand() (cmd, want string) {
	if n.role == RoleServer {
		return fmt.Sprintf("%s kubectl --kubeconfig %s get --raw=/readyz", sshx.Quote(n.l.k3s()), sshx.Quote(n.l.kubeconfig())), "ok"
	}
	// The kubelet's own credentials may read its Node object.
	return fmt.Sprintf("%s kubectl --kubeconfig %s get node %s -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}'",
		sshx.Quote(n.l.k3s()), sshx.Quote(n.l.agentKubeconfig()), sshx.Quote(n.spec.NodeName)), "True"
}

func (n *node) waitReady(ctx context.Context) error {
	cmd, want := n.readyCommand()
	deadline := time.Now().Add(time.Duration(n.spec.ReadyTimeoutSeconds) * time.Second)
	var last error
	for {
		out, err := n.run(ctx, cmd)
		if err == nil && strings.TrimSpace(out) == want {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("readiness said %q, want %q", strings.TrimSpace(out), want)
		}
		if time.Now().After(deadline) {
			return n.errf("not ready after %ds: %w", n.spec.ReadyTimeoutSeconds, last)
		}
		select {
		case <-ctx.Done():
			return n.errf("waiting for readiness: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// hostState is what a host reports about its k3s.
type hostState struct {
	installed  bool
	version    string
	kubeconfig string // rewritten to the public address
	nodeToken  string
}

var versionLineRe = regexp.MustCompile(`k3s version (v\S+)`)

func (n *node) probe(ctx context.Context) (hostState, error) {
	var st hostState
	out, err := n.run(ctx, fmt.Sprintf("test -x %s || exit 0; %s --version", sshx.Quote(n.l.uninstall(n.role)), sshx.Quote(n.l.k3s())))
	if err != nil {
		return st, n.errf("probe: %w", err)
	}
	m := versionLineRe.FindStringSubmatch(out)
	if m == nil {
		return st, nil
	}
	st.installed, st.version = true, m[1]
	if n.role != RoleServer {
		return st, nil
	}
	kc, err := n.run(ctx, "cat "+sshx.Quote(n.l.kubeconfig()))
	if err != nil {
		return st, n.errf("read kubeconfig: %w", err)
	}
	st.kubeconfig = rewriteKubeconfig(kc, n.spec.APIAddress)
	tok, err := n.run(ctx, "cat "+sshx.Quote(n.l.nodeToken()))
	if err != nil {
		return st, n.errf("read node token: %w", err)
	}
	st.nodeToken = strings.TrimSpace(tok)
	return st, nil
}

var kubeServerRe = regexp.MustCompile(`(?m)^(\s*server:\s*)https://(127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0)(:\d+)?`)

// rewriteKubeconfig points the loopback API address k3s writes at the public address.
func rewriteKubeconfig(kc, addr string) string {
	host := addr
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") {
		host = "[" + addr + "]"
	}
	return kubeServerRe.ReplaceAllString(kc, "${1}https://"+host+"${3}")
}

// drain cordons and evicts the node's pods before an upgrade or removal; agents go through the server's
// kubeconfig (staged on the agent in a 0600 temp file, removed afterwards).
func (n *node) drain(ctx context.Context) error {
	if !n.spec.Drain {
		return nil
	}
	kc := n.l.kubeconfig()
	if n.role == RoleAgent {
		kc = path.Join(n.l.stageDir(), "drain-kubeconfig")
		if err := n.c.Upload(ctx, kc, strings.NewReader(n.spec.DrainKubeconfig), 0o600); err != nil {
			return n.errf("drain: %w", err)
		}
		defer func() { _, _ = n.run(context.WithoutCancel(ctx), "rm -f "+sshx.Quote(kc)) }()
	}
	n.log("draining node " + n.spec.NodeName)
	cmd := fmt.Sprintf("%s kubectl --kubeconfig %s drain %s --ignore-daemonsets --delete-emptydir-data --timeout=%ds",
		sshx.Quote(n.l.k3s()), sshx.Quote(kc), sshx.Quote(n.spec.NodeName), n.spec.DrainTimeoutSeconds)
	if _, err := n.run(ctx, cmd); err != nil {
		return n.errf("drain (node left as it was, not upgraded): %w", err)
	}
	return nil
}

func (n *node) uncordon(ctx context.Context) error {
	if !n.spec.Drain {
		return nil
	}
	kc := n.l.kubeconfig()
	if n.role == RoleAgent {
		kc = path.Join(n.l.stageDir(), "drain-kubeconfig")
		if err := n.c.Upload(ctx, kc, strings.NewReader(n.spec.DrainKubeconfig), 0o600); err != nil {
			return n.errf("uncordon: %w", err)
		}
		defer func() { _, _ = n.run(context.WithoutCancel(ctx), "rm -f "+sshx.Quote(kc)) }()
	}
	cmd := fmt.Sprintf("%s kubectl --kubeconfig %s uncordon %s", sshx.Quote(n.l.k3s()), sshx.Quote(kc), sshx.Quote(n.spec.NodeName))
	if _, err := n.run(ctx, cmd); err != nil {
		return n.errf("uncordon: %w", err)
	}
	return nil
}

// uninstall runs k3s's own uninstall script (which stops k3s and removes its files) and the firewall.
func (n *node) uninstall(ctx context.Context) error {
	script := n.l.uninstall(n.role)
	n.log("running " + script)
	if _, err := n.run(ctx, fmt.Sprintf("if [ -x %[1]s ]; then %[1]s; fi", sshx.Quote(script))); err != nil {
		return n.errf("uninstall: %w", err)
	}
	if f := n.spec.Firewall; f != nil && f.Enabled {
		if _, err := n.run(ctx, fmt.Sprintf("%s || true; rm -f %s", f.RemoveCommand, sshx.Quote(n.l.firewallFile()))); err != nil {
			return n.errf("firewall removal: %w", err)
		}
	}
	_, err := n.run(ctx, "rm -rf "+sshx.Quote(n.l.stageDir()))
	if err != nil {
		return n.errf("remove %s: %w", n.l.stageDir(), err)
	}
	return nil
}

func (n *node) applyFirewall(ctx context.Context) error {
	f := n.spec.Firewall
	if f == nil || !f.Enabled {
		return nil
	}
	rules := RenderFirewall(*f)
	if err := n.c.Upload(ctx, n.l.firewallFile(), strings.NewReader(rules), 0o600); err != nil {
		return n.errf("firewall: %w", err)
	}
	if _, err := n.run(ctx, f.ApplyCommand+" "+sshx.Quote(n.l.firewallFile())); err != nil {
		return n.errf("firewall apply: %w", err)
	}
	return nil
}
