package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCRDsFindsUpstreamDefinitions(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "crds", "strimzi")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("upstream CRDs not found at %s (the repository expects ../shared/crds beside it): %v", dir, err)
	}
	crds, err := readCRDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range crds {
		names[c.Name] = true
	}
	for _, want := range []string{"kafkas.kafka.strimzi.io", "kafkatopics.kafka.strimzi.io", "kafkausers.kafka.strimzi.io", "kafkanodepools.kafka.strimzi.io"} {
		if !names[want] {
			t.Errorf("CRD %s not found among %d CRDs", want, len(crds))
		}
	}
}

func TestReadCRDsSkipsOtherKindsAndRejectsBrokenYAML(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "kind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n")
	write("notes.txt", "not yaml: [")
	crds, err := readCRDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 || crds[0].Name != "widgets.example.com" {
		t.Fatalf("got %+v, want only widgets.example.com", crds)
	}
	write("b.yaml", "kind: [unclosed\n")
	if _, err := readCRDs(dir); err == nil || !strings.Contains(err.Error(), "b.yaml") {
		t.Fatalf("broken YAML: err = %v, want an error naming b.yaml", err)
	}
}

func TestUpFailsClearlyWithoutBinaries(t *testing.T) {
	cp, err := newControlPlane(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = cp.checkBinaries()
	if err == nil {
		t.Fatal("checkBinaries passed on an empty bin dir")
	}
	for _, want := range append(binaries, "make tools") {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestPortInUseIsReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = portFree(port)
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("portFree(%d) = %v, want an in-use error", port, err)
	}
}

// startSleeper starts a real process that stands in for a control plane
// component, so stale-state handling is tested on live PIDs.
func startSleeper(t *testing.T) process {
	t.Helper()
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin, _ = filepath.EvalSymlinks(bin)
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() //nolint:errcheck // reaps the child so it does not linger as a zombie
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return process{Name: "sleeper", PID: cmd.Process.Pid, Binary: bin}
}

func TestClearStale(t *testing.T) {
	tests := []struct {
		name      string
		ready     bool
		procs     func(t *testing.T) []process
		wantErr   string
		wantStops bool
	}{
		{
			name:    "a running, ready cluster refuses a second up",
			ready:   true,
			procs:   func(t *testing.T) []process { return []process{startSleeper(t)} },
			wantErr: "already running",
		},
		{
			name:  "an incomplete run's leftover processes are stopped",
			ready: false,
			procs: func(t *testing.T) []process {
				return []process{startSleeper(t), {Name: "gone", PID: 1 << 22, Binary: "/nonexistent"}}
			},
			wantStops: true,
		},
		{
			name:  "a state whose processes are gone is cleaned up",
			ready: true,
			procs: func(t *testing.T) []process { return []process{{Name: "gone", PID: 1 << 22, Binary: "/nonexistent"}} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			procs := tt.procs(t)
			st := &state{Dir: dir, Ready: tt.ready, Processes: procs}
			if err := st.save(); err != nil {
				t.Fatal(err)
			}
			cp := &controlPlane{dir: dir}
			var log bytes.Buffer
			err := cp.clearStale(&log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("clearStale = %v, want error containing %q", err, tt.wantErr)
				}
				if !procs[0].alive() {
					t.Error("the running cluster's process was stopped")
				}
				return
			}
			if err != nil {
				t.Fatalf("clearStale: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state dir still exists: %v", err)
			}
			for _, p := range procs {
				if p.alive() {
					t.Errorf("process %s (pid %d) still alive", p.Name, p.PID)
				}
			}
			if tt.wantStops != strings.Contains(log.String(), "stopping") {
				t.Errorf("log %q: want stopping=%v", log.String(), tt.wantStops)
			}
		})
	}
}

func TestDownWithoutStateIsHarmless(t *testing.T) {
	var log bytes.Buffer
	if err := down(filepath.Join(t.TempDir(), "none"), &log); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !strings.Contains(log.String(), "nothing to stop") {
		t.Errorf("log = %q", log.String())
	}
}
