// Package sshx is the small SSH client the ordermesh provider drives hosts with: strict pinned host keys,
// command execution with captured output, and file upload without needing SFTP on the host.
package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target says how to reach one host.
type Target struct {
	// Address is the host name or IP address.
	Address string
	// Port is the SSH port; 0 means 22.
	Port int
	// User is the login user.
	User string
	// PrivateKey is the PEM/OpenSSH private key the user authenticates with.
	PrivateKey string
	// HostKey is the pinned host public key in authorized_keys form ("ssh-ed25519 AAAA...").
	HostKey string
	// DialTimeout bounds TCP connect plus handshake; 0 means 15s.
	DialTimeout time.Duration
}

// Endpoint returns host:port.
func (t Target) Endpoint() string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(t.Address, strconv.Itoa(port))
}

// ErrHostKeyMismatch is returned (wrapped) when the host presents a key other than the pinned one.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// Client is a connected SSH session factory.
type Client struct {
	conn   *ssh.Client
	target Target
}

// Dial connects and authenticates, refusing any host key but the pinned one.
func Dial(ctx context.Context, t Target) (*Client, error) {
	signer, err := ssh.ParsePrivateKey([]byte(t.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("ssh %s: parse private key: %w", t.Endpoint(), err)
	}
	pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
	if err != nil {
		return nil, fmt.Errorf("ssh %s: parse pinned host key %q: %w", t.Endpoint(), t.HostKey, err)
	}
	timeout := t.DialTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if !bytes.Equal(got.Marshal(), pinned.Marshal()) {
				return fmt.Errorf("%w: pinned %s %s, host presented %s %s", ErrHostKeyMismatch,
					pinned.Type(), ssh.FingerprintSHA256(pinned), got.Type(), ssh.FingerprintSHA256(got))
			}
			return nil
		},
		// Offer only the pinned key's algorithm so a host with several keys presents the one we pinned.
		HostKeyAlgorithms: hostKeyAlgorithms(pinned.Type()),
		Timeout:           timeout,
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", t.Endpoint())
	if err != nil {
		return nil, fmt.Errorf("ssh %s: unreachable: %w", t.Endpoint(), err)
	}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	c, chans, reqs, err := ssh.NewClientConn(raw, t.Endpoint(), cfg)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("ssh %s: handshake as %q: %w", t.Endpoint(), t.User, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return &Client{conn: ssh.NewClient(c, chans, reqs), target: t}, nil
}

func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// CommandError carries a failed remote command's exit status and output.
type CommandError struct {
	Command  string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 2000 {
		msg = msg[len(msg)-2000:]
	}
	if e.ExitCode >= 0 {
		return fmt.Sprintf("remote command %q exited %d: %s", e.Command, e.ExitCode, msg)
	}
	return fmt.Sprintf("remote command %q: %v: %s", e.Command, e.Err, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// Run executes cmd through the login shell, feeding stdin (may be nil), and returns stdout.
// The context cancels the remote command by closing the session.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (string, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return "", fmt.Errorf("ssh %s: new session: %w", c.target.Endpoint(), err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &stdout, &stderr, stdin
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Close()
		return stdout.String(), &CommandError{Command: cmd, ExitCode: -1, Stderr: stderr.String(), Err: ctx.Err()}
	}
	if err != nil {
		code := -1
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitStatus()
		}
		return stdout.String(), &CommandError{Command: cmd, ExitCode: code, Stderr: stderr.String(), Err: err}
	}
	return stdout.String(), nil
}

// Upload writes r to path (parent directories created) with the given mode, atomically via a temp
// file and rename so a half-written binary is never executed.
func (c *Client) Upload(ctx context.Context, path string, r io.Reader, mode uint32) error {
	tmp := path + ".ordermesh-upload"
	cmd := fmt.Sprintf("set -e; mkdir -p %s; cat > %s; chmod %o %s; mv -f %s %s",
		Quote(dir(path)), Quote(tmp), mode, Quote(tmp), Quote(tmp), Quote(path))
	if _, err := c.Run(ctx, cmd, r); err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	return nil
}

func dir(path string) string {
	i := strings.LastIndex(path, "/")
	switch {
	case i < 0:
		return "."
	case i == 0:
		return "/"
	}
	return path[:i]
}

// Quote single-quotes s for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
