package vault

import (
	"fmt"
	"strings"
)

// annotationPrefix is the agent injector's annotation domain: the OpenBao
// injector (openbao-k8s) renamed vault.hashicorp.com.
func annotationPrefix(d Distribution) string {
	if d == DistributionOpenBao {
		return "openbao.openbao.org/"
	}
	return "vault.hashicorp.com/"
}

// InjectedSecret is one secret the agent renders into the pod.
type InjectedSecret struct {
	// File is the file name under the agent's secrets directory
	// (/vault/secrets/<File> or /openbao/secrets/<File>).
	File string
	// Path is the full KV v2 API path, e.g. "secret/data/order/db".
	Path string
	// Template is an optional Consul Template for the file; empty renders
	// the injector's default.
	Template string
}

// InjectorAnnotations returns the pod annotations that make the agent
// injector log in with role and render secrets. Put them on the pod
// template, not on the Deployment.
func InjectorAnnotations(d Distribution, role string, secrets []InjectedSecret) (map[string]string, error) {
	var problems []string
	if d != DistributionVault && d != DistributionOpenBao {
		problems = append(problems, fmt.Sprintf("distribution %q: must be vault or openbao", d))
	}
	if role == "" {
		problems = append(problems, "role is empty")
	}
	if len(secrets) == 0 {
		problems = append(problems, "no secrets")
	}
	p := annotationPrefix(d)
	ann := map[string]string{
		p + "agent-inject": "true",
		p + "role":         role,
	}
	for i, s := range secrets {
		if !dnsLabel.MatchString(s.File) {
			problems = append(problems, fmt.Sprintf("secrets[%d].File = %q: must be a DNS label", i, s.File))
		}
		if s.Path == "" {
			problems = append(problems, fmt.Sprintf("secrets[%d].Path is empty", i))
		}
		key := p + "agent-inject-secret-" + s.File
		if _, dup := ann[key]; dup {
			problems = append(problems, fmt.Sprintf("secrets[%d].File = %q: duplicate", i, s.File))
		}
		ann[key] = s.Path
		if s.Template != "" {
			ann[p+"agent-inject-template-"+s.File] = s.Template
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("vault: injector annotations for role %q: %s", role, strings.Join(problems, "; "))
	}
	return ann, nil
}
