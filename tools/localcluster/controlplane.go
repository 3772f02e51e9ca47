package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// binaries are the executables up needs, in start order.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// zones are the topology zones of the three fake nodes.
var zones = []string{"zone-a", "zone-b", "zone-c"}

const kwokNodeAnnotation = "kwok.x-k8s.io/node"

type controlPlane struct {
	dir    string
	binDir string
}

type upOptions struct {
	CRDDirs []string
	// APIServerPort is the API server's port; 0 picks a free one.
	APIServerPort int
	Timeout       time.Duration
	Log           io.Writer
}

func newControlPlane(stateDir, binDir string) (*controlPlane, error) {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(binDir)
	if err != nil {
		return nil, err
	}
	return &controlPlane{dir: dir, binDir: bin}, nil
}

// checkBinaries reports every missing binary at once.
func (cp *controlPlane) checkBinaries() error {
	var missing []string
	for _, b := range binaries {
		fi, err := os.Stat(filepath.Join(cp.binDir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Join(cp.binDir, b))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing control plane binaries: %s; build them with `make tools`", strings.Join(missing, ", "))
	}
	return nil
}

// clearStale refuses to start over a running cluster and cleans up what a
// crashed or interrupted run left behind.
func (cp *controlPlane) clearStale(w io.Writer) error {
	st, err := readState(cp.dir)
	switch {
	case errors.Is(err, errNoState):
		if _, statErr := os.Stat(cp.dir); statErr == nil {
			fmt.Fprintf(w, "removing stale state directory %s (no state record)\n", cp.dir)
			return os.RemoveAll(cp.dir)
		}
		return nil
	case err != nil:
		return err
	}
	var alive []process
	for _, p := range st.Processes {
		if p.alive() {
			alive = append(alive, p)
		}
	}
	if len(alive) > 0 && len(alive) == len(st.Processes) && st.Ready {
		return fmt.Errorf("a local cluster is already running (API server %s, state %s, started %s); use it (KUBECONFIG=%s) or stop it with `localcluster down` first",
			st.APIServer, cp.dir, st.StartedAt.Format(time.RFC3339), st.Kubeconfig)
	}
	if len(alive) > 0 {
		fmt.Fprintf(w, "stale state in %s: %d of %d processes still running from an incomplete run; stopping them\n", cp.dir, len(alive), len(st.Processes))
		if err := stopAll(alive, w); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "stale state in %s: its processes are gone; cleaning up\n", cp.dir)
	}
	return os.RemoveAll(cp.dir)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree fails with an actionable message when port is taken.
func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("--port %d: 127.0.0.1:%d is already in use by another program; free it or choose another port (0 picks a free one)", port, port)
	}
	return l.Close()
}

// running is a started process plus a channel closed when it exits, so a
// crash during start-up is reported at once instead of as a timeout.
type running struct {
	process
	exited chan struct{}
	err    error
}

func (cp *controlPlane) start(st *state, name string, args ...string) (*running, error) {
	bin := filepath.Join(cp.binDir, name)
	logPath := filepath.Join(cp.dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = cp.dir
	// Own session: the control plane outlives `up` and ignores the
	// terminal's Ctrl-C; `down` stops it by the recorded PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &running{process: process{Name: name, PID: cmd.Process.Pid, Binary: bin, Log: logPath}, exited: make(chan struct{})}
	go func() { r.err = cmd.Wait(); close(r.exited) }()
	st.Processes = append(st.Processes, r.process)
	return r, st.save()
}

// waitFor polls check until it succeeds, the process dies or ctx ends.
func waitFor(ctx context.Context, r *running, what string, check func() bool) error {
	for {
		if check() {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("%s exited before %s (%v); last lines of %s:\n%s", r.Name, what, r.err, r.Log, tail(r.Log, 15))
		case <-ctx.Done():
			return fmt.Errorf("%s: timed out waiting for %s; last lines of %s:\n%s", r.Name, what, r.Log, tail(r.Log, 15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Up starts the control plane. On any failure it stops what it started and
// removes the state directory, so a failed up leaves no process behind.
func (cp *controlPlane) Up(ctx context.Context, opt upOptions) (err error) {
	began := time.Now()
	w := opt.Log
	if err := cp.checkBinaries(); err != nil {
		return err
	}
	var crds []crdDoc
	for _, dir := range opt.CRDDirs {
		found, err := readCRDs(dir)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("--crds %s: no CustomResourceDefinition found", dir)
		}
		crds = append(crds, found...)
	}
	if err := cp.clearStale(w); err != nil {
		return err
	}
	for _, sub := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(cp.dir, sub), 0o700); err != nil {
			return err
		}
	}
	st := &state{Dir: cp.dir, StartedAt: began}
	defer func() {
		if err != nil {
			fmt.Fprintln(w, "start failed; stopping what was started")
			_ = stopAll(st.Processes, w)
			_ = os.RemoveAll(cp.dir)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	ports := map[string]int{}
	for _, name := range []string{"etcd-client", "etcd-peer", "apiserver", "kwok"} {
		if ports[name], err = freePort(); err != nil {
			return fmt.Errorf("find a free port: %w", err)
		}
	}
	if opt.APIServerPort != 0 {
		if err := portFree(opt.APIServerPort); err != nil {
			return err
		}
		ports["apiserver"] = opt.APIServerPort
	}
	keys, err := newPKI(filepath.Join(cp.dir, "pki"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", ports["apiserver"])
	st.APIServer = server
	st.Kubeconfig = filepath.Join(cp.dir, "kubeconfig")
	kcs := map[string][]byte{
		"kubeconfig":                             kubeconfig(server, keys.CACert, "admin", keys.AdminToken),
		"controller-manager.kubeconfig":          kubeconfig(server, keys.CACert, "system:kube-controller-manager", keys.Tokens["system:kube-controller-manager"]),
		"scheduler.kubeconfig":                   kubeconfig(server, keys.CACert, "system:kube-scheduler", keys.Tokens["system:kube-scheduler"]),
		filepath.Join("pki", "kwok-stages.yaml"): kwokStages,
	}
	for name, data := range kcs {
		if err := os.WriteFile(filepath.Join(cp.dir, name), data, 0o600); err != nil {
			return err
		}
	}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-client"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-peer"])
	fmt.Fprintf(w, "starting etcd on %s\n", etcdURL)
	etcd, err := cp.start(st, "etcd",
		"--name=ordermesh", "--data-dir="+filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=ordermesh="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitFor(ctx, etcd, "health", func() bool { return httpOK(plain, etcdURL+"/health", "") }); err != nil {
		return err
	}

	// kube-apiserver
	fmt.Fprintf(w, "starting kube-apiserver on %s\n", server)
	pk := keys.path
	apiserver, err := cp.start(st, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports["apiserver"]),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+pk("apiserver.crt"), "--tls-private-key-file="+pk("apiserver.key"),
		"--client-ca-file="+pk("ca.crt"),
		"--token-auth-file="+pk("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pk("sa.pub"), "--service-account-signing-key-file="+pk("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--cert-dir="+filepath.Join(cp.dir, "pki", "apiserver"),
		"--profiling=false")
	if err != nil {
		return err
	}
	client, err := newKubeClient(server, keys.CACert, keys.AdminToken)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, apiserver, "/readyz", func() bool {
		return client.do(ctx, http.MethodGet, "/readyz", "", nil, nil) == nil
	}); err != nil {
		return err
	}

	fmt.Fprintln(w, "starting kube-controller-manager, kube-scheduler and kwok")
	cm, err := cp.start(st, "kube-controller-manager",
		"--kubeconfig="+filepath.Join(cp.dir, "controller-manager.kubeconfig"),
		"--secure-port=0", "--leader-elect=false",
		"--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
		"--service-account-private-key-file="+pk("sa.key"),
		"--root-ca-file="+pk("ca.crt"),
		"--use-service-account-credentials=true",
		"--profiling=false")
	if err != nil {
		return err
	}
	sched, err := cp.start(st, "kube-scheduler",
		"--kubeconfig="+filepath.Join(cp.dir, "scheduler.kubeconfig"),
		"--secure-port=0", "--leader-elect=false", "--profiling=false")
	if err != nil {
		return err
	}
	kwok, err := cp.start(st, "kwok",
		"--kubeconfig="+st.Kubeconfig,
		"--config="+pk("kwok-stages.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16",
		"--server-address="+fmt.Sprintf("127.0.0.1:%d", ports["kwok"]))
	if err != nil {
		return err
	}

	if err := cp.createNodes(ctx, client); err != nil {
		return err
	}
	// Ready means: nodes Ready (kwok works), the default service account
	// exists (controller-manager works) and a pod gets scheduled (scheduler
	// works) — the things every later `pulumi up` relies on.
	for _, step := range []struct {
		r    *running
		what string
		ok   func() bool
	}{
		{kwok, "3 Ready nodes", func() bool { return client.readyNodes(ctx) == len(zones) }},
		{cm, "the default service account", func() bool {
			return client.do(ctx, http.MethodGet, "/api/v1/namespaces/default/serviceaccounts/default", "", nil, nil) == nil
		}},
		{sched, "a scheduled probe pod", func() bool { return client.probePodScheduled(ctx) }},
	} {
		if err := waitFor(ctx, step.r, step.what, step.ok); err != nil {
			return err
		}
	}
	_ = client.do(ctx, http.MethodDelete, "/api/v1/namespaces/default/pods/localcluster-probe", "", nil, nil)

	if len(crds) > 0 {
		fmt.Fprintf(w, "applying %d CRDs from %s\n", len(crds), strings.Join(opt.CRDDirs, ", "))
		if err := client.applyCRDs(ctx, crds); err != nil {
			return err
		}
		for _, d := range opt.CRDDirs {
			abs, _ := filepath.Abs(d)
			st.CRDDirs = append(st.CRDDirs, abs)
		}
	}
	st.Ready = true
	if err := st.save(); err != nil {
		return err
	}
	fmt.Fprintf(w, "local cluster ready in %.1fs: API server %s\nexport KUBECONFIG=%s\n", time.Since(began).Seconds(), server, st.Kubeconfig)
	return nil
}

func httpOK(c *http.Client, url, token string) bool {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (cp *controlPlane) createNodes(ctx context.Context, c *kubeClient) error {
	for i, zone := range zones {
		name := fmt.Sprintf("ordermesh-node-%d", i+1)
		node := map[string]any{
			"apiVersion": "v1",
			"kind":       "Node",
			"metadata": map[string]any{
				"name":        name,
				"annotations": map[string]string{kwokNodeAnnotation: "fake"},
				"labels": map[string]string{
					"kubernetes.io/hostname":        name,
					"kubernetes.io/os":              "linux",
					"kubernetes.io/arch":            "amd64",
					"type":                          "kwok",
					"topology.kubernetes.io/zone":   zone,
					"topology.kubernetes.io/region": "local",
				},
			},
		}
		body, _ := json.Marshal(node)
		if err := c.apply(ctx, "/api/v1/nodes/"+name, body); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

func (c *kubeClient) readyNodes(ctx context.Context) int {
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/nodes", "", nil, &list); err != nil {
		return 0
	}
	n := 0
	for _, item := range list.Items {
		for _, cond := range item.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				n++
			}
		}
	}
	return n
}

// probePodScheduled creates (once) a tiny pod and reports whether the
// scheduler bound it to a node.
func (c *kubeClient) probePodScheduled(ctx context.Context) bool {
	const path = "/api/v1/namespaces/default/pods/localcluster-probe"
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"localcluster-probe"},
"spec":{"automountServiceAccountToken":false,"containers":[{"name":"probe","image":"registry.invalid/probe:0"}]}}`
	var got struct {
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &got)
	if isStatus(err, http.StatusNotFound) {
		_ = c.apply(ctx, path, []byte(pod))
		return false
	}
	return err == nil && got.Spec.NodeName != ""
}

func status(ctx context.Context, dir string, w io.Writer) error {
	st, err := readState(dir)
	if err != nil {
		return err
	}
	allAlive := true
	for _, p := range st.Processes {
		s := "running"
		if !p.alive() {
			s, allAlive = "NOT RUNNING", false
		}
		fmt.Fprintf(w, "%-24s pid %-8d %s\n", p.Name, p.PID, s)
	}
	ready := false
	if ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt")); err == nil {
		if tok, err := adminToken(dir); err == nil {
			if c, err := newKubeClient(st.APIServer, ca, tok); err == nil {
				ready = c.do(ctx, http.MethodGet, "/readyz", "", nil, nil) == nil
			}
		}
	}
	fmt.Fprintf(w, "api server               %s ready=%t\nkubeconfig               %s\n", st.APIServer, ready, st.Kubeconfig)
	if !allAlive || !ready {
		return errors.New("local cluster is not healthy; `localcluster down` then `up` to restart it")
	}
	return nil
}

func adminToken(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pki", "tokens.csv"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 2 && f[1] == "admin" {
			return f[0], nil
		}
	}
	return "", errors.New("no admin token")
}
