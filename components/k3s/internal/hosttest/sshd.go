// Package hosttest gives tests real SSH "hosts": Debian's OpenSSH server started on loopback with a
// temp config, a generated host key and a generated client key, each host with its own root prefix.
// It also writes the STAND-IN k3s executable and install script (see standin.go).
package hosttest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is where Debian's openssh-server puts the daemon.
const SSHDPath = "/usr/sbin/sshd"

// Host is one running sshd acting as a machine.
type Host struct {
	Name       string
	Address    string
	Port       int
	User       string
	PrivateKey string // client key, OpenSSH PEM
	HostKey    string // the server's public key, authorized_keys form
	Root       string // root prefix for everything the provider writes
	Dir        string // the host's temp dir (config, keys, log)
	hostPriv   string // the original host private key
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

// NewKey returns an ed25519 private key in OpenSSH PEM form and its authorized_keys line.
func NewKey(t testing.TB) (privPEM, pubLine string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartSSHD starts a real sshd for one host; it fails the test (never skips) when sshd is missing.
func StartSSHD(t testing.TB, name string) *Host {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Fatalf("%s not found: install the Debian package openssh-server (apt-get install openssh-server): %v", SSHDPath, err)
	}
	// sshd insists on its privilege separation directory even when it never chroots.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("create /run/sshd: %v", err)
	}
	dir := t.TempDir()
	h := &Host{Name: name, Address: "127.0.0.1", User: currentUser(t), Dir: dir, Root: filepath.Join(dir, "root")}
	if err := os.MkdirAll(h.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostPriv, hostPub := NewKey(t)
	clientPriv, clientPub := NewKey(t)
	h.PrivateKey, h.HostKey, h.hostPriv = clientPriv, hostPub, hostPriv
	write(t, filepath.Join(dir, "ssh_host_ed25519_key"), hostPriv, 0o600)
	write(t, filepath.Join(dir, "authorized_keys"), clientPub+"\n", 0o600)
	h.start(t, freePort(t))
	// Registered once on the test that made the host, so a restart from a subtest outlives the subtest.
	t.Cleanup(h.stop)
	// Stand-in daemons are started detached by the host's sessions; stop them by their pid files.
	t.Cleanup(func() { killStandIns(h.Root) })
	return h
}

func killStandIns(root string) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "standin.pid" {
			if b, rerr := os.ReadFile(p); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 1 {
					if proc, ferr := os.FindProcess(pid); ferr == nil {
						_ = proc.Kill()
					}
				}
			}
		}
		return nil
	})
}

func (h *Host) start(t testing.TB, port int) {
	t.Helper()
	h.Port = port
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s/ssh_host_ed25519_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
LogLevel VERBOSE
`, h.Port, h.Dir, h.Dir, h.Dir)
	cfgPath := filepath.Join(h.Dir, "sshd_config")
	write(t, cfgPath, cfg, 0o600)
	h.log = &bytes.Buffer{}
	h.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start sshd for %s: %v", h.Name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", h.Endpoint(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd for %s never listened on %s: %v\n%s", h.Name, h.Endpoint(), err, h.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ChangeHostKey restarts the host's sshd, same port, with a new host key (a reinstalled or impostor
// machine); HostKey keeps the originally pinned key.
func (h *Host) ChangeHostKey(t testing.TB) {
	t.Helper()
	priv, _ := NewKey(t)
	h.restart(t, priv)
}

// RestoreHostKey restarts sshd with the original host key.
func (h *Host) RestoreHostKey(t testing.TB) { t.Helper(); h.restart(t, h.hostPriv) }

func (h *Host) stop() {
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}

func (h *Host) restart(t testing.TB, hostPriv string) {
	t.Helper()
	h.stop()
	write(t, filepath.Join(h.Dir, "ssh_host_ed25519_key"), hostPriv, 0o600)
	h.start(t, h.Port)
}

// Endpoint is host:port.
func (h *Host) Endpoint() string { return net.JoinHostPort(h.Address, strconv.Itoa(h.Port)) }

// Log is sshd's output so far.
func (h *Host) Log() string { return h.log.String() }

func currentUser(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func write(t testing.TB, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}
