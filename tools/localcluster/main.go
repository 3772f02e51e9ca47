// Command localcluster runs a small but real Kubernetes control plane on
// 127.0.0.1 for development and end-to-end tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (which plays the kubelets
// of three fake nodes in three zones).
//
//	localcluster up     [--state-dir DIR] [--bin-dir DIR] [--crds DIR]...
//	localcluster down   [--state-dir DIR]
//	localcluster status [--state-dir DIR]
//	localcluster env    [--state-dir DIR]   (prints KUBECONFIG=... for eval)
//
// Every process runs detached and is recorded with its PID in the state
// directory, so `down` stops exactly the processes `up` started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: localcluster <up|down|status|env> [flags]

  up      start etcd, kube-apiserver, controller-manager, scheduler and kwok on
          127.0.0.1, create 3 fake nodes in 3 zones, write a kubeconfig
  down    stop the processes recorded by up and remove the state directory
  status  show the recorded processes and whether the API server is ready
  env     print KUBECONFIG=<path> for the running cluster

flags (all commands):
  --state-dir DIR   where state, logs and the kubeconfig live (default .state/localcluster)
flags (up):
  --bin-dir DIR     where etcd, kube-* and kwok binaries are (default bin)
  --crds DIR        apply every CRD in DIR and wait until Established (repeatable)
  --port N          API server port on 127.0.0.1 (default 0: a free port)
  --timeout D       how long to wait for readiness (default 90s)
`

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return errors.New("missing command")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	stateDir := fs.String("state-dir", ".state/localcluster", "state directory")
	binDir := fs.String("bin-dir", "bin", "directory holding the control plane binaries")
	port := fs.Int("port", 0, "API server port (0 picks a free one)")
	timeout := fs.Duration("timeout", 90*time.Second, "readiness timeout")
	var crds multiFlag
	fs.Var(&crds, "crds", "CRD directory to apply (repeatable)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "up":
		cp, err := newControlPlane(*stateDir, *binDir)
		if err != nil {
			return err
		}
		return cp.Up(ctx, upOptions{CRDDirs: crds, APIServerPort: *port, Timeout: *timeout, Log: os.Stderr})
	case "down":
		return down(*stateDir, os.Stderr)
	case "status":
		return status(ctx, *stateDir, os.Stdout)
	case "env":
		st, err := readState(*stateDir)
		if err != nil {
			return err
		}
		fmt.Printf("KUBECONFIG=%s\n", st.Kubeconfig)
		return nil
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q (allowed: up, down, status, env)", cmd)
	}
}
