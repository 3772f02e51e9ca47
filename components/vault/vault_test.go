package vault

import (
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/versions"
)

// recorder is a Pulumi mock monitor that records every resource's inputs.
type recorder struct {
	mu        sync.Mutex
	resources map[string]resource.PropertyMap // "<type>::<name>" -> inputs
	types     []string
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resources == nil {
		r.resources = map[string]resource.PropertyMap{}
	}
	r.resources[args.TypeToken+"::"+args.Name] = args.Inputs
	r.types = append(r.types, args.TypeToken)
	return args.Name + "-id", args.Inputs, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func (r *recorder) byType(token string) []resource.PropertyMap {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []resource.PropertyMap
	for k, v := range r.resources {
		if strings.HasPrefix(k, token+"::") {
			out = append(out, v)
		}
	}
	return out
}

func run(t *testing.T, args *Args) (*recorder, *Vault, error) {
	t.Helper()
	rec := &recorder{}
	var v *Vault
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		v, err = NewVault(ctx, "vault", args)
		return err
	}, pulumi.WithMocks("ordermesh", "test", rec))
	return rec, v, err
}

const (
	releaseType = "kubernetes:helm.sh/v4:Chart"
	jobType     = "kubernetes:batch/v1:Job"
	secretType  = "kubernetes:core/v1:Secret"
)

// path walks nested object properties.
func path(m resource.PropertyMap, keys ...string) resource.PropertyValue {
	v := resource.NewObjectProperty(m)
	for _, k := range keys {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func TestNewVaultProfiles(t *testing.T) {
	tests := []struct {
		name         string
		args         Args
		chart        versions.Chart
		wantDev      bool
		wantReplicas float64
		wantInjector float64
		wantImage    string
		wantCLI      string
	}{
		{
			name:  "dev vault: single dev-mode server",
			args:  Args{Services: orderServices()},
			chart: versions.Vault, wantDev: true, wantInjector: 1,
			wantImage: "hashicorp/vault:" + versions.Vault.AppVersion, wantCLI: "vault",
		},
		{
			name:  "prod vault: HA raft with 3 replicas and PDB",
			args:  Args{Profile: ProfileProd, AdminToken: pulumi.ToSecret(pulumi.String("s.admin")).(pulumi.StringOutput), Services: orderServices()},
			chart: versions.Vault, wantReplicas: 3, wantInjector: 2,
			wantImage: "hashicorp/vault:" + versions.Vault.AppVersion, wantCLI: "vault",
		},
		{
			name:  "prod openbao: licence choice swaps chart and CLI",
			args:  Args{Profile: ProfileProd, Distribution: DistributionOpenBao, AdminToken: pulumi.String("t"), HAReplicas: 5, Services: orderServices()},
			chart: versions.OpenBao, wantReplicas: 5, wantInjector: 2,
			wantImage: "quay.io/openbao/openbao:" + versions.OpenBao.AppVersion, wantCLI: "bao",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := run(t, &tt.args)
			if err != nil {
				t.Fatal(err)
			}
			rels := rec.byType(releaseType)
			if len(rels) != 1 {
				t.Fatalf("%d helm charts, want 1", len(rels))
			}
			rel := rels[0]
			if got := path(rel, "chart").StringValue(); got != tt.chart.Name {
				t.Errorf("chart = %q, want %q", got, tt.chart.Name)
			}
			if got := path(rel, "version").StringValue(); got != tt.chart.Version {
				t.Errorf("chart version = %q, want pinned %q", got, tt.chart.Version)
			}
			if got := path(rel, "repositoryOpts", "repo").StringValue(); got != tt.chart.Repo {
				t.Errorf("repo = %q, want %q", got, tt.chart.Repo)
			}
			if got := path(rel, "values", "injector", "enabled"); !got.IsBool() || !got.BoolValue() {
				t.Errorf("injector.enabled = %v, want true", got)
			}
			if got := path(rel, "values", "injector", "replicas").NumberValue(); got != tt.wantInjector {
				t.Errorf("injector.replicas = %v, want %v", got, tt.wantInjector)
			}
			dev := path(rel, "values", "server", "dev", "enabled")
			if dev.BoolValue() != tt.wantDev {
				t.Errorf("server.dev.enabled = %v, want %v", dev, tt.wantDev)
			}
			ha := path(rel, "values", "server", "ha", "enabled").BoolValue()
			raft := path(rel, "values", "server", "ha", "raft", "enabled").BoolValue()
			pdb := path(rel, "values", "server", "ha", "disruptionBudget", "enabled").BoolValue()
			if tt.wantDev {
				if ha || raft {
					t.Errorf("dev has ha=%v raft=%v, want neither", ha, raft)
				}
			} else {
				if !ha || !raft || !pdb {
					t.Errorf("ha=%v raft=%v pdb=%v, want all true", ha, raft, pdb)
				}
				if got := path(rel, "values", "server", "ha", "replicas").NumberValue(); got != tt.wantReplicas {
					t.Errorf("ha.replicas = %v, want %v", got, tt.wantReplicas)
				}
				if got := path(rel, "values", "server", "ha", "disruptionBudget", "maxUnavailable").NumberValue(); got != 1 {
					t.Errorf("PDB maxUnavailable = %v, want 1", got)
				}
				if got := path(rel, "values", "server", "dataStorage", "size").StringValue(); got != "10Gi" {
					t.Errorf("dataStorage.size = %q", got)
				}
			}

			jobs := rec.byType(jobType)
			if len(jobs) != 1 {
				t.Fatalf("%d jobs, want 1", len(jobs))
			}
			job := jobs[0]
			name := path(job, "metadata", "name").StringValue()
			if !strings.HasPrefix(name, string(tt.args.Distribution)) && tt.args.Distribution != "" {
				t.Errorf("job name %q does not start with the release name", name)
			}
			c := path(job, "spec", "template", "spec", "containers").ArrayValue()[0].ObjectValue()
			if got := path(c, "image").StringValue(); got != tt.wantImage {
				t.Errorf("job image = %q, want %q", got, tt.wantImage)
			}
			env := map[string]resource.PropertyValue{}
			for _, e := range path(c, "env").ArrayValue() {
				env[path(e.ObjectValue(), "name").StringValue()] = resource.NewObjectProperty(e.ObjectValue())
			}
			if got := path(env["VAULT_BIN"].ObjectValue(), "value").StringValue(); got != tt.wantCLI {
				t.Errorf("VAULT_BIN = %q, want %q", got, tt.wantCLI)
			}
			if ref := path(env["VAULT_TOKEN"].ObjectValue(), "valueFrom", "secretKeyRef", "key"); ref.StringValue() != tokenKey {
				t.Errorf("VAULT_TOKEN does not come from the config Secret: %v", env["VAULT_TOKEN"])
			}
			cmd := path(c, "command").ArrayValue()
			script := cmd[len(cmd)-1].StringValue()
			if !strings.Contains(script, "v policy write 'ordermesh-payment'") {
				t.Errorf("job script does not configure payment")
			}
			if ScriptHash(script) == "" || !strings.Contains(name, "-configure-") {
				t.Errorf("job name %q not derived from the script hash", name)
			}
			if got := path(job, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject").StringValue(); got != "false" {
				t.Errorf("job pod sidecar injection = %q, want false", got)
			}

			secrets := rec.byType(secretType)
			if len(secrets) != 1 {
				t.Fatalf("%d secrets, want 1", len(secrets))
			}
			sd := secrets[0]["stringData"]
			if !sd.IsSecret() && !(sd.IsObject() && sd.ObjectValue()[tokenKey].IsSecret()) {
				t.Errorf("admin token stored as plaintext: %v", sd)
			}
			if _, ok := path(secrets[0], "stringData").ObjectValue()["payment.config.json"]; !ok {
				t.Errorf("seed payment.config.json missing from config Secret")
			}
		})
	}
}

func TestNewVaultWithoutOperatorsCreatesNoChart(t *testing.T) {
	rec, _, err := run(t, &Args{InstallOperators: pulumi.BoolRef(false), Services: orderServices()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.byType(releaseType)); n != 0 {
		t.Fatalf("%d helm charts with InstallOperators=false, want 0", n)
	}
	if n := len(rec.byType(jobType)); n != 1 {
		t.Fatalf("%d jobs, want 1 (configuration still runs)", n)
	}
}

func TestNewVaultWithoutConfigureCreatesNoJob(t *testing.T) {
	rec, _, err := run(t, &Args{Configure: pulumi.BoolRef(false), Services: orderServices()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.byType(jobType)) + len(rec.byType(secretType)); n != 0 {
		t.Fatalf("%d job/secret resources with Configure=false, want 0", n)
	}
}

func TestNewVaultJobNameFollowsConfiguration(t *testing.T) {
	name := func(args Args) string {
		rec, _, err := run(t, &args)
		if err != nil {
			t.Fatal(err)
		}
		return path(rec.byType(jobType)[0], "metadata", "name").StringValue()
	}
	base := name(Args{Services: orderServices()})
	if again := name(Args{Services: orderServices()}); again != base {
		t.Errorf("same configuration, different job names %q and %q", base, again)
	}
	if fewer := name(Args{Services: orderServices()[:5]}); fewer == base {
		t.Errorf("removing a service kept job name %q; the change would not run", base)
	}
}

func TestNewVaultRejectsInvalidArgs(t *testing.T) {
	rec, _, err := run(t, &Args{Profile: ProfileProd, HAReplicas: 2, Services: []Service{{Name: "Order"}}})
	if err == nil {
		t.Fatal("invalid args accepted")
	}
	for _, want := range []string{"HAReplicas = 2", "AdminToken = nil", `Services[0].Name = "Order"`, `Services[0].Namespace = ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if len(rec.types) != 0 {
		t.Errorf("resources created despite invalid args: %v", rec.types)
	}
}

func TestAnnotations(t *testing.T) {
	_, v, err := run(t, &Args{KVMount: "kv", Services: orderServices()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Annotations("payment", "config", "gateway/api")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"vault.hashicorp.com/agent-inject":                    "true",
		"vault.hashicorp.com/role":                            "ordermesh-payment",
		"vault.hashicorp.com/agent-inject-secret-config":      "kv/data/payment/config",
		"vault.hashicorp.com/agent-inject-secret-gateway-api": "kv/data/payment/gateway/api",
	}
	if len(got) != len(want) {
		t.Errorf("annotations = %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if _, err := v.Annotations("billing", "x"); err == nil {
		t.Error("annotations for an undeclared service accepted")
	}
	bao, err := InjectorAnnotations(DistributionOpenBao, "r", []InjectedSecret{{File: "db", Path: "secret/data/x/db", Template: "{{ . }}"}})
	if err != nil {
		t.Fatal(err)
	}
	if bao["openbao.openbao.org/role"] != "r" || bao["openbao.openbao.org/agent-inject-template-db"] != "{{ . }}" {
		t.Errorf("openbao annotations = %v", bao)
	}
	if _, err := InjectorAnnotations(DistributionVault, "", []InjectedSecret{{File: "A_B"}}); err == nil ||
		!strings.Contains(err.Error(), "role is empty") || !strings.Contains(err.Error(), `File = "A_B"`) {
		t.Errorf("bad annotations input: err = %v", err)
	}
}
