package vault

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// orderSystem is the reference order system's services.
var orderSystem = []string{"order", "payment", "inventory", "shipping", "order-query", "notification"}

func orderServices() []Service {
	var s []Service
	for _, n := range orderSystem {
		s = append(s, Service{Name: n, Namespace: "orders", Secrets: []SeedSecret{{Path: "config"}}})
	}
	return s
}

func TestArgsValidateListsEveryProblem(t *testing.T) {
	a := Args{
		Profile:        "qa",
		Distribution:   "consul",
		Namespace:      "Vault",
		HAReplicas:     2,
		KVMount:        "kv/v2",
		KubernetesHost: "http://api",
		NamePrefix:     "om",
		TokenTTL:       "1 hour",
		Services: []Service{
			{Name: "order", Namespace: "orders", Secrets: []SeedSecret{{Path: "db"}, {Path: "db"}, {Path: "../x"}}},
			{Name: "order", Namespace: ""},
		},
	}.applyDefaults()
	err := a.validate()
	if err == nil {
		t.Fatal("invalid args accepted")
	}
	for _, want := range []string{
		`Profile = "qa"`, `Distribution = "consul"`, `Namespace = "Vault"`, `KVMount = "kv/v2"`,
		`KubernetesHost = "http://api"`, `NamePrefix = "om"`, `TokenTTL = "1 hour"`,
		`Services[0].Secrets[1].Path = "db": duplicate`, `Services[0].Secrets[2].Path = "../x"`,
		`Services[1].Name = "order": duplicate`, `Services[1].Namespace = ""`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestArgsValidateProdNeedsQuorumAndToken(t *testing.T) {
	err := Args{Profile: ProfileProd, HAReplicas: 4}.applyDefaults().validate()
	if err == nil {
		t.Fatal("prod without token and with 4 replicas accepted")
	}
	for _, want := range []string{"HAReplicas = 4", "AdminToken = nil"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	ok := Args{Profile: ProfileProd, AdminToken: pulumi.String("t")}.applyDefaults()
	if err := ok.validate(); err != nil {
		t.Fatalf("valid prod args rejected: %v", err)
	}
}

func TestNewPlanOrderAndContent(t *testing.T) {
	p, err := NewPlan(Args{Services: orderServices(), Audience: "vault"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range p.Steps {
		kinds = append(kinds, fmt.Sprintf("%T", s))
	}
	n := len(orderSystem)
	if got, want := len(p.Steps), 3+3*n+2; got != want {
		t.Fatalf("plan has %d steps, want %d: %v", got, want, kinds)
	}
	if _, ok := p.Steps[0].(EnableSecretsEngine); !ok {
		t.Errorf("first step is %s, want EnableSecretsEngine", kinds[0])
	}
	if _, ok := p.Steps[len(p.Steps)-1].(PrunePolicies); !ok {
		t.Errorf("last step is %s, want PrunePolicies (after roles are pruned)", kinds[len(kinds)-1])
	}
	var roles, policies int
	for _, s := range p.Steps {
		switch s := s.(type) {
		case WritePolicy:
			policies++
			want := ServicePolicy("secret", s.Service)
			if !reflect.DeepEqual(s.Policy, want) || s.Name != "ordermesh-"+s.Service {
				t.Errorf("policy step %+v, want name ordermesh-%s and %+v", s, s.Service, want)
			}
		case WriteKubernetesRole:
			roles++
			svc := strings.TrimPrefix(s.Name, "ordermesh-")
			want := KubernetesRole{
				BoundServiceAccountNames:      []string{svc},
				BoundServiceAccountNamespaces: []string{"orders"},
				TokenPolicies:                 []string{s.Name},
				TokenTTL:                      "1h",
				Audience:                      "vault",
			}
			if !reflect.DeepEqual(s.Role, want) {
				t.Errorf("role %s = %+v, want %+v", s.Name, s.Role, want)
			}
		case PrunePolicies:
			if len(s.Keep) != n || s.Prefix != "ordermesh-" {
				t.Errorf("prune policies = %+v", s)
			}
		}
	}
	if roles != n || policies != n {
		t.Errorf("roles=%d policies=%d, want %d each", roles, policies, n)
	}
}

func TestNewPlanIgnoresDeclarationOrder(t *testing.T) {
	svcs := orderServices()
	rev := make([]Service, len(svcs))
	for i := range svcs {
		rev[len(svcs)-1-i] = svcs[i]
	}
	a, _ := NewPlan(Args{Services: svcs})
	b, _ := NewPlan(Args{Services: rev})
	sa, _ := RenderScript(a)
	sb, _ := RenderScript(b)
	if sa != sb || ScriptHash(sa) != ScriptHash(sb) {
		t.Fatal("reordering services changed the rendered script")
	}
}

func TestRoleJSONUsesCurrentVaultFieldNames(t *testing.T) {
	b, err := json.Marshal(KubernetesRole{TokenPolicies: []string{"p"}, TokenTTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"token_policies":["p"]`, `"token_ttl":"1h"`, `"bound_service_account_names"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("role JSON %s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"policies"`) || strings.Contains(string(b), `"ttl"`) {
		t.Errorf("role JSON %s uses legacy field names", b)
	}
}

func TestRenderScriptRefusesOverBroadPolicy(t *testing.T) {
	p, err := NewPlan(Args{Services: orderServices()})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range p.Steps {
		if w, ok := s.(WritePolicy); ok && w.Service == "payment" {
			w.Policy = Policy{Path: map[string]PathRule{"secret/data/*": {Capabilities: []Capability{CapRead}}}}
			p.Steps[i] = w
		}
	}
	if _, err := RenderScript(p); err == nil || !strings.Contains(err.Error(), `"secret/data/*" is outside`) {
		t.Fatalf("over-broad policy rendered; err = %v", err)
	}
}

func TestRenderScriptContainsEveryStep(t *testing.T) {
	p, err := NewPlan(Args{Services: orderServices(), KVMount: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	script, err := RenderScript(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"set -eu",
		"v secrets enable -path='kv' -version=2 'kv'",
		"v auth enable -path='kubernetes' 'kubernetes'",
		`{"kubernetes_host":"https://kubernetes.default.svc"}`,
		"v policy write 'ordermesh-order-query' -",
		`{"path":{"kv/data/order-query/*":{"capabilities":["read"]}}}`,
		"v write 'auth/kubernetes/role/ordermesh-payment' -",
		`"token_policies":["ordermesh-payment"]`,
		`"$SEED_DIR"/'shipping.config.json'`,
		"v write 'kv/data/shipping/config' -",
		"v policy delete",
		"v delete 'auth/kubernetes/role'/\"$k\"",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	opened := strings.Count(script, "<<'ORDERMESH_JSON'\n")
	closed := strings.Count(script, "\nORDERMESH_JSON\n")
	if want := 2*len(orderSystem) + 1; opened != want || closed != want {
		t.Errorf("heredocs opened %d, closed %d, want %d", opened, closed, want)
	}
}

func TestRenderScriptIsValidShell(t *testing.T) {
	for _, d := range []Distribution{DistributionVault, DistributionOpenBao} {
		p, err := NewPlan(Args{Distribution: d, Services: orderServices()})
		if err != nil {
			t.Fatal(err)
		}
		script, err := RenderScript(p)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: sh -n: %v\n%s", d, err, out)
		}
	}
}
