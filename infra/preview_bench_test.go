//go:build e2e

package main

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkPreview measures warm no-change previews of the dev and prod
// stacks against the local control plane, beside a plain program with the
// same number of resources (ConfigMaps), in one session:
//
//	make bench-preview
func BenchmarkPreview(b *testing.B) {
	e := newEnv(b)
	e.clusterUp()
	for _, tc := range []struct {
		profile   string
		resources int // as reported by `pulumi up`, stack resource included
		secrets   map[string]string
	}{
		{profile: "dev", resources: 125},
		{profile: "prod", resources: 133, secrets: map[string]string{"ordermesh:vaultAdminToken": "bench-token"}},
	} {
		proj := e.project(tc.profile, nil)
		proj.mustPulumi("stack", "init", tc.profile, "--non-interactive")
		for k, v := range tc.secrets {
			proj.mustPulumi("config", "set", "--secret", "--stack", tc.profile, k, v)
		}
		proj.mustPulumi("up", "--yes", "--non-interactive", "--skip-preview", "--stack", tc.profile)
		previewLoop(b, proj, tc.profile, tc.profile)

		stack := fmt.Sprintf("plain-%d", tc.resources)
		plain := e.programProject(filepath.Join(e.root, "infra", "testdata", "plain"), stack)
		plain.mustPulumi("stack", "init", stack, "--non-interactive")
		// The stack resource counts too: N-1 ConfigMaps give N resources.
		plain.mustPulumi("config", "set", "--stack", stack, "count", fmt.Sprint(tc.resources-1))
		plain.mustPulumi("up", "--yes", "--non-interactive", "--skip-preview", "--stack", stack)
		previewLoop(b, plain, stack, stack)
		plain.mustPulumi("destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", stack)
		proj.mustPulumi("destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", tc.profile)
	}
}

func previewLoop(b *testing.B, p *project, stack, name string) {
	b.Run(name, func(b *testing.B) {
		for b.Loop() {
			if out, err := p.pulumi("preview", "--expect-no-changes", "--non-interactive", "--stack", stack); err != nil {
				b.Fatalf("preview %s: %v\n%s", stack, err, out)
			}
		}
	})
}
