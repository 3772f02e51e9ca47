package sshx

import (
	"os/exec"
	"testing"
)

func TestQuoteSurvivesTheShell(t *testing.T) {
	for _, s := range []string{"plain", "with space", "it's", `"double"`, "$(touch /tmp/x) `x` \\ ;|&", "", "a'b'c"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("Quote(%q) came back as %q", s, out)
		}
	}
}

func TestDir(t *testing.T) {
	for in, want := range map[string]string{"/a/b/c": "/a/b", "/a": "/", "a": "."} {
		if got := dir(in); got != want {
			t.Errorf("dir(%q) = %q, want %q", in, got, want)
		}
	}
}
