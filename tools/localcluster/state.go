package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const stateFile = "state.json"

// process is one control-plane process that up started.
type process struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Binary string `json:"binary"`
	Log    string `json:"log"`
}

// state is what up records so that down and status act on exactly the
// processes it started.
type state struct {
	Dir        string `json:"dir"`
	APIServer  string `json:"apiServer"`
	Kubeconfig string `json:"kubeconfig"`
	Ready      bool   `json:"ready"`
	// CRDDirs are the CRD directories applied at start (air-gapped mode).
	CRDDirs   []string  `json:"crdDirs,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	Processes []process `json:"processes"`
}

func (s *state) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.Dir, stateFile))
}

// errNoState means the state directory holds no record of a cluster.
var errNoState = errors.New("no local cluster recorded")

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (start one with `localcluster up`)", errNoState, dir)
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v): stop any leftover processes by hand and remove the directory", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// alive reports whether pid still runs the recorded binary. Checking the
// executable guards against killing an unrelated process that reused the PID.
func (p process) alive() bool {
	if p.PID <= 0 {
		return false
	}
	if err := syscall.Kill(p.PID, 0); err != nil {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe != p.Binary {
		return false
	}
	// A zombie has exited but not been reaped; treat it as gone.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// stop terminates the process gracefully, then forcefully after grace.
func (p process) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	for i := 0; i < 40; i++ {
		if !p.alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s (pid %d) did not stop", p.Name, p.PID)
}

// stopAll stops processes in reverse start order.
func stopAll(procs []process, w io.Writer) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if !p.alive() {
			continue
		}
		fmt.Fprintf(w, "stopping %s (pid %d)\n", p.Name, p.PID)
		if err := p.stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func down(dir string, w io.Writer) error {
	st, err := readState(dir)
	if errors.Is(err, errNoState) {
		if _, statErr := os.Stat(dir); statErr == nil {
			fmt.Fprintf(w, "no state record in %s; removing the directory\n", dir)
			return os.RemoveAll(dir)
		}
		fmt.Fprintln(w, "nothing to stop:", err)
		return nil
	}
	if err != nil {
		return err
	}
	if err := stopAll(st.Processes, w); err != nil {
		return fmt.Errorf("%w; state kept in %s", err, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	fmt.Fprintln(w, "local cluster stopped; state removed")
	return nil
}
