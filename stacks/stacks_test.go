package stacks

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDefaultsOfEveryProfileAreValid(t *testing.T) {
	for _, p := range Profiles {
		t.Run(string(p), func(t *testing.T) {
			c, err := Defaults(p)
			if err != nil {
				t.Fatal(err)
			}
			if probs := c.Validate(); len(probs) > 0 {
				t.Fatalf("defaults of %s invalid:\n%v", p, probs)
			}
		})
	}
}

func TestProfilesDifferInScaleAsDesigned(t *testing.T) {
	dev := mustResolve(t, "dev", nil)
	prod := mustResolve(t, "prod", nil)
	staging := mustResolve(t, "staging", nil)

	if got := dev.Kafka; got.Brokers != 1 || got.Replication != 1 || !got.DualRole || got.Controllers != 0 {
		t.Errorf("dev kafka = %+v, want 1 dual-role broker, replication 1", got)
	}
	if got := prod.Kafka; got.Brokers != 3 || got.Controllers != 3 || got.Replication != 3 || got.MinInsyncReplicas != 2 || got.DualRole {
		t.Errorf("prod kafka = %+v, want 3 controllers + 3 brokers, replication 3, min.insync 2", got)
	}
	if dev.Vault.HA || !prod.Vault.HA || !staging.Vault.HA {
		t.Errorf("vault HA dev/staging/prod = %v/%v/%v, want false/true/true", dev.Vault.HA, staging.Vault.HA, prod.Vault.HA)
	}
	if dev.Cluster.Mode != "local" || prod.Cluster.Mode != "existing" {
		t.Errorf("cluster modes dev/prod = %s/%s", dev.Cluster.Mode, prod.Cluster.Mode)
	}
	for _, name := range ServiceNames {
		d, p := dev.Services[name], prod.Services[name]
		if d.Replicas != 1 || d.Canary.Enabled || d.ZoneSpread != "none" {
			t.Errorf("dev %s: replicas %d canary %v zoneSpread %q, want 1/false/none", name, d.Replicas, d.Canary.Enabled, d.ZoneSpread)
		}
		if p.Replicas != 3 || p.PDB.MinAvailable != 2 || p.ZoneSpread != "required" {
			t.Errorf("prod %s: replicas %d pdb %d zoneSpread %q, want 3/2/required", name, p.Replicas, p.PDB.MinAvailable, p.ZoneSpread)
		}
		if name != NotificationService && (!p.Canary.Enabled || p.Canary.Weight != 5) {
			t.Errorf("prod %s canary = %+v, want enabled weight 5", name, p.Canary)
		}
		if d.Image.Tag == "latest" || d.Image.Tag == "" {
			t.Errorf("%s image tag %q is not pinned", name, d.Image.Tag)
		}
	}
	if got := dev.Services[OrderService].Callers; len(got) != 1 || got[0] != IngressGateway {
		t.Errorf("order callers = %v, want [ingress-gateway]", got)
	}
	if got := dev.Services[PaymentService].Callers; len(got) != 0 {
		t.Errorf("payment callers = %v, want none (Kafka only)", got)
	}
}

func TestResolveAppliesOverridesOnTopOfProfileDefaults(t *testing.T) {
	c := mustResolve(t, "", map[string]string{
		"ordermesh:profile":  "prod",
		"ordermesh:kafka":    `{"partitions": 24, "storageSize": "200Gi"}`,
		"ordermesh:services": `{"payment": {"canary": {"weight": 10}, "env": {"GATEWAY_URL": "http://sim"}}}`,
		"ordermesh:cluster":  `{"renderDir": "rendered"}`,
		"kubernetes:context": "ignored",
	})
	if c.Kafka.Partitions != 24 || c.Kafka.StorageSize != "200Gi" || c.Kafka.Brokers != 3 {
		t.Errorf("kafka = %+v, want partitions 24, storage 200Gi, brokers kept at 3", c.Kafka)
	}
	pay := c.Services[PaymentService]
	if pay.Canary.Weight != 10 || !pay.Canary.Enabled || pay.Canary.Tag != DefaultImageTag {
		t.Errorf("payment canary = %+v, want weight 10 with other defaults kept", pay.Canary)
	}
	if pay.Env["GATEWAY_URL"] != "http://sim" {
		t.Errorf("payment env = %v", pay.Env)
	}
	if c.Services[OrderService].Canary.Weight != 5 {
		t.Errorf("order canary weight changed by a payment override")
	}
	if c.Cluster.RenderDir != "rendered" {
		t.Errorf("renderDir = %q", c.Cluster.RenderDir)
	}
}

func TestResolveAcceptsScalarsStoredAsStrings(t *testing.T) {
	// `pulumi config set --path ordermesh:kafka.partitions 6` may store "6".
	c := mustResolve(t, "dev", map[string]string{
		"ordermesh:kafka":   `{"partitions": "6"}`,
		"ordermesh:mesh":    `{"enabled": "false", "tracingSampling": "12.5"}`,
		"ordermesh:profile": "dev",
	})
	if c.Kafka.Partitions != 6 || c.Mesh.Enabled || c.Mesh.TracingSampling != 12.5 {
		t.Errorf("got partitions %d mesh.enabled %v sampling %v", c.Kafka.Partitions, c.Mesh.Enabled, c.Mesh.TracingSampling)
	}
}

func TestResolveReportsEveryProblemAtOnce(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
		want []string
	}{
		{
			name: "unknown profile",
			raw:  map[string]string{"ordermesh:profile": "qa"},
			want: []string{`ordermesh:profile = "qa": must be one of dev, staging, prod`},
		},
		{
			name: "unknown profile with bad overrides",
			raw:  map[string]string{"ordermesh:profile": "production", "ordermesh:kafka": `{"brokerz": 1, "brokers": "x"}`},
			want: []string{
				`ordermesh:profile = "production": must be one of dev, staging, prod`,
				`ordermesh:kafka.brokerz = 1: unknown key`,
				`ordermesh:kafka.brokers = "x": must be an integer`,
			},
		},
		{
			name: "missing profile",
			raw:  map[string]string{},
			want: []string{`ordermesh:profile = "": must be one of dev, staging, prod`},
		},
		{
			name: "canary weight above 100 and negative",
			raw:  map[string]string{"ordermesh:services": `{"payment": {"canary": {"weight": 120}}, "order": {"canary": {"weight": -1}}}`},
			want: []string{
				`ordermesh:services.payment.canary.weight = 120: must be 0..100`,
				`ordermesh:services.order.canary.weight = -1: must be 0..100`,
			},
		},
		{
			name: "replicas not above pdb minimum",
			raw:  map[string]string{"ordermesh:services": `{"order": {"replicas": 2, "hpa": {"minReplicas": 2}}, "payment": {"pdb": {"minAvailable": 3}}}`},
			want: []string{
				`ordermesh:services.order.pdb.minAvailable = 2: must be below services.order.replicas (2)`,
				`ordermesh:services.payment.pdb.minAvailable = 3: must be below services.payment.replicas (3)`,
				`ordermesh:services.order.hpa.minReplicas = 2: must be >= services.order.pdb.minAvailable+1 (3)`,
			},
		},
		{
			name: "single replica with a blocking pdb",
			raw:  map[string]string{"ordermesh:services": `{"inventory": {"replicas": 1, "hpa": {"minReplicas": 1}, "pdb": {"minAvailable": 1}}}`},
			want: []string{`ordermesh:services.inventory.pdb.minAvailable = 1: must be below services.inventory.replicas (1)`},
		},
		{
			name: "unknown caller and self call",
			raw:  map[string]string{"ordermesh:services": `{"payment": {"callers": ["ordr", "payment", "order", "order"]}}`},
			want: []string{
				`ordermesh:services.payment.callers[0] = "ordr": unknown caller; allowed: ingress-gateway, order, payment, inventory, shipping, order-query, notification`,
				`ordermesh:services.payment.callers[1] = "payment": must not be the service itself`,
				`ordermesh:services.payment.callers[3] = "order": must be unique`,
			},
		},
		{
			name: "negative and malformed quantities",
			raw: map[string]string{
				"ordermesh:services": `{"shipping": {"resources": {"requests": {"cpu": "-100m", "memory": "12 8Mi"}, "limits": {"cpu": "1x", "memory": "64Mi"}}}}`,
				"ordermesh:kafka":    `{"storageSize": "0"}`,
			},
			want: []string{
				`ordermesh:services.shipping.resources.requests.cpu = "-100m": must be a positive quantity`,
				`ordermesh:services.shipping.resources.requests.memory = "12 8Mi": must be a Kubernetes quantity`,
				`ordermesh:services.shipping.resources.limits.cpu = "1x": must be a Kubernetes quantity`,
				`ordermesh:kafka.storageSize = "0": must be a positive quantity`,
			},
		},
		{
			name: "limit below request",
			raw:  map[string]string{"ordermesh:services": `{"order": {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}}}`},
			want: []string{`ordermesh:services.order.resources.limits.memory = "512Mi": must be >= requests.memory (1Gi)`},
		},
		{
			name: "negative counts",
			raw:  map[string]string{"ordermesh:kafka": `{"partitions": -1, "retentionHours": 0}`, "ordermesh:services": `{"order": {"replicas": -2}}`},
			want: []string{
				`ordermesh:kafka.partitions = -1: must be >= 1`,
				`ordermesh:kafka.retentionHours = 0: must be >= 1`,
				`ordermesh:services.order.replicas = -2: must be >= 1`,
			},
		},
		{
			name: "unknown keys name the allowed keys",
			raw: map[string]string{
				"ordermesh:kafak":    `{}`,
				"ordermesh:kafka":    `{"brokerz": 3}`,
				"ordermesh:services": `{"paymnet": {"replicas": 2}}`,
			},
			want: []string{
				`ordermesh:kafak = (set): unknown key; allowed keys: ordermesh:profile, ordermesh:cluster`,
				`ordermesh:kafka.brokerz = 3: unknown key; allowed keys: clusterName, dualRole, controllers, brokers`,
				`ordermesh:services.paymnet = {"replicas":2}: unknown service; allowed: order, payment, inventory, shipping, order-query, notification`,
			},
		},
		{
			name: "wrong types",
			raw: map[string]string{
				"ordermesh:kafka": `{"brokers": "three", "partitions": 1.5, "topics": "orders.events"}`,
				"ordermesh:mesh":  `{"enabled": "yes"}`,
				"ordermesh:vault": `not json`,
			},
			want: []string{
				`ordermesh:kafka.brokers = "three": must be an integer`,
				`ordermesh:kafka.partitions = 1.5: must be an integer`,
				`ordermesh:kafka.topics = "orders.events": must be a list of strings`,
				`ordermesh:mesh.enabled = "yes": must be true or false`,
				`ordermesh:vault = not json: must be a JSON object`,
			},
		},
		{
			name: "kafka sizing",
			raw:  map[string]string{"ordermesh:kafka": `{"brokers": 2, "replication": 3, "minInsyncReplicas": 4, "controllers": 2, "dualRole": false}`},
			want: []string{
				`ordermesh:kafka.controllers = 2: must be an odd number >= 1`,
				`ordermesh:kafka.replication = 3: must be 1..kafka.brokers (2)`,
				`ordermesh:kafka.minInsyncReplicas = 4: must be 1..kafka.replication (3)`,
			},
		},
		{
			name: "unknown topics and dlq topics",
			raw: map[string]string{
				"ordermesh:kafka":    `{"topics": ["orders.events", "orders.events.dlq", "orders.events"]}`,
				"ordermesh:services": `{"notification": {"consumes": ["orders.events", "orders.events.dlq", "refunds.events"]}}`,
			},
			want: []string{
				`ordermesh:kafka.topics[1] = "orders.events.dlq": must not end in .dlq`,
				`ordermesh:kafka.topics[2] = "orders.events": must be unique`,
				`ordermesh:services.notification.consumes[2] = "refunds.events": unknown topic; allowed: orders.events`,
				`ordermesh:services.payment.produces[0] = "payment.events": unknown topic`,
			},
		},
		{
			name: "images",
			raw:  map[string]string{"ordermesh:services": `{"order": {"image": {"tag": "latest"}, "canary": {"enabled": true, "tag": ""}}, "payment": {"image": {"repository": "Bad Repo:1"}}}`},
			want: []string{
				`ordermesh:services.order.image.tag = "latest": must be a pinned tag, not latest`,
				`ordermesh:services.order.canary.tag = "": must be an image tag`,
				`ordermesh:services.payment.image.repository = "Bad Repo:1": must be an image repository without tag`,
			},
		},
		{
			name: "mesh, vault, observability, namespaces",
			raw: map[string]string{
				"ordermesh:mesh":          `{"mtlsMode": "DISABLE", "tracingSampling": 101, "jwt": {"issuer": "https://id", "jwksUri": "http://id/jwks"}}`,
				"ordermesh:vault":         `{"flavor": "consul", "ha": true, "replicas": 2}`,
				"ordermesh:observability": `{"retention": "15 days", "slo": {"sagaSuccessRatio": 1.5}}`,
				"ordermesh:namespaces":    `{"apps": "Orders", "vault": "kafka", "mesh": "shared", "ingress": "shared", "observability": "Orders"}`,
				"ordermesh:cluster":       `{"mode": "k8s"}`,
			},
			want: []string{
				`ordermesh:mesh.mtlsMode = "DISABLE": must be one of STRICT, PERMISSIVE`,
				`ordermesh:mesh.tracingSampling = 101: must be 0..100`,
				`ordermesh:mesh.jwt.jwksUri = "http://id/jwks": must be an https URL`,
				`ordermesh:vault.flavor = "consul": must be one of vault, openbao`,
				`ordermesh:vault.replicas = 2: must be an odd number >= 3 when vault.ha is true`,
				`ordermesh:observability.retention = "15 days": must be a Prometheus duration`,
				`ordermesh:observability.slo.sagaSuccessRatio = 1.5: must be in (0, 1]`,
				`ordermesh:namespaces.apps = "Orders": must be a DNS-1123 label`,
				`ordermesh:namespaces.observability = "Orders": must differ from namespaces.apps`,
				`ordermesh:cluster.mode = "k8s": must be one of local, existing`,
			},
		},
		{
			name: "canary without the mesh",
			raw:  map[string]string{"ordermesh:mesh": `{"enabled": false}`},
			want: []string{`ordermesh:services.order.canary.enabled = true: needs mesh.enabled`},
		},
		{
			name: "hpa bounds",
			raw:  map[string]string{"ordermesh:services": `{"order": {"hpa": {"minReplicas": 3, "maxReplicas": 2, "targetCPUPercent": 0}}}`},
			want: []string{
				`ordermesh:services.order.hpa.maxReplicas = 2: must be >= services.order.hpa.minReplicas (3)`,
				`ordermesh:services.order.hpa.targetCPUPercent = 0: must be 1..100`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"ordermesh:profile": "prod"}
			if strings.Contains(tt.name, "profile") {
				raw = map[string]string{}
			}
			for k, v := range tt.raw {
				raw[k] = v
			}
			_, err := Resolve("", raw)
			if err == nil {
				t.Fatal("Resolve succeeded, want problems")
			}
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("error %T is not Problems", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing problem %q in:\n%s", w, msg)
				}
			}
			if len(probs) < len(tt.want) {
				t.Errorf("got %d problems, want at least %d", len(probs), len(tt.want))
			}
			if n := strings.Count(msg, "\n"); n != len(probs) {
				t.Errorf("message has %d lines after the header, want one per problem (%d)", n, len(probs))
			}
		})
	}
}

func TestProblemsErrorListsOneProblemPerLine(t *testing.T) {
	_, err := Resolve("prod", map[string]string{"ordermesh:services": `{"payment": {"canary": {"weight": 120}}, "order": {"replicas": 0}}`})
	if err == nil {
		t.Fatal("want error")
	}
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "invalid ordermesh configuration (") {
		t.Errorf("header = %q", lines[0])
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(strings.TrimSpace(l), "ordermesh:") {
			t.Errorf("line %q does not start with the key", l)
		}
	}
}

func TestSecretKeysAreAcceptedButNeverDecoded(t *testing.T) {
	c := mustResolve(t, "dev", map[string]string{"ordermesh:kubeconfig": "not json: secret", "ordermesh:vaultAdminToken": "hvs.not-json"})
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "secret") || strings.Contains(string(b), "hvs.") {
		t.Error("secret value leaked into Config")
	}
}

func TestStackFilesResolve(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "Pulumi."+stack+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Config map[string]any `yaml:"config"`
			}
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			raw := map[string]string{}
			for k, v := range doc.Config {
				if s, ok := v.(string); ok {
					raw[k] = s
					continue
				}
				j, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				raw[k] = string(j)
			}
			c, err := Resolve("", raw)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Profile) != stack {
				t.Errorf("profile = %s, want %s", c.Profile, stack)
			}
		})
	}
}

func TestApplyEnvironmentResolvesPathsAgainstProjectRoot(t *testing.T) {
	root := t.TempDir()
	c := mustResolve(t, "dev", map[string]string{"ordermesh:cluster": `{"renderDir": "out/manifests"}`})
	c.ApplyEnvironment(root, "")
	if want := filepath.Join(root, ".state/localcluster"); c.Cluster.LocalStateDir != want {
		t.Errorf("localStateDir = %q, want %q", c.Cluster.LocalStateDir, want)
	}
	if want := filepath.Join(root, "out/manifests"); c.Cluster.RenderDir != want {
		t.Errorf("renderDir = %q, want %q", c.Cluster.RenderDir, want)
	}
	if c.Operators.CRDsDir != "" || !c.Operators.InstallCharts() {
		t.Errorf("no CRD dir expected, got %q", c.Operators.CRDsDir)
	}

	// A sibling shared/crds is used in local mode.
	proj := filepath.Join(root, "main")
	if err := os.MkdirAll(filepath.Join(root, "shared", "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	c = mustResolve(t, "dev", nil)
	c.ApplyEnvironment(proj, "")
	if want := filepath.Join(root, "shared", "crds"); c.Operators.CRDsDir != want || c.Operators.InstallCharts() {
		t.Errorf("crdsDir = %q (charts %v), want %q and charts skipped", c.Operators.CRDsDir, c.Operators.InstallCharts(), want)
	}
	// Not in existing mode, unless asked for through the environment.
	c = mustResolve(t, "prod", nil)
	c.ApplyEnvironment(proj, "")
	if c.Operators.CRDsDir != "" {
		t.Errorf("prod picked up %q", c.Operators.CRDsDir)
	}
	c.ApplyEnvironment(proj, "crds")
	if want := filepath.Join(proj, "crds"); c.Operators.CRDsDir != want {
		t.Errorf("crdsDir from env = %q, want %q", c.Operators.CRDsDir, want)
	}
}

func mustResolve(t *testing.T, profile string, raw map[string]string) *Config {
	t.Helper()
	c, err := Resolve(profile, raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlatformComponentsMayShareANamespace(t *testing.T) {
	c := mustResolve(t, "dev", map[string]string{"ordermesh:namespaces": `{"mesh": "platform", "ingress": "platform", "vault": "platform"}`})
	if c.Namespaces.Ingress != "platform" || c.Namespaces.Apps != "orders" {
		t.Errorf("namespaces = %+v", c.Namespaces)
	}
}

// TestEveryRuleRejectsItsBadValue has one case per validation rule not covered above.
func TestEveryRuleRejectsItsBadValue(t *testing.T) {
	tests := []struct {
		profile, key, value, want string
	}{
		{"dev", "cluster", `{"localStateDir": ""}`, `ordermesh:cluster.localStateDir = "": must be set when cluster.mode is local`},
		{"dev", "kafka", `{"clusterName": "Order_Mesh"}`, `ordermesh:kafka.clusterName = "Order_Mesh": must be a DNS-1123 label`},
		{"dev", "kafka", `{"controllers": 1}`, `ordermesh:kafka.controllers = 1: must be 0 when kafka.dualRole is true`},
		{"prod", "kafka", `{"controllers": 0}`, `ordermesh:kafka.controllers = 0: must be an odd number >= 1`},
		{"dev", "kafka", `{"brokers": 0}`, `ordermesh:kafka.brokers = 0: must be >= 1`},
		{"dev", "kafka", `{"dlqRetentionHours": -5}`, `ordermesh:kafka.dlqRetentionHours = -5: must be >= 1`},
		{"dev", "kafka", `{"port": 70000}`, `ordermesh:kafka.port = 70000: must be 1..65535`},
		{"dev", "kafka", `{"topics": []}`, `ordermesh:kafka.topics = []: must name at least one topic`},
		{"dev", "kafka", `{"topics": ["orders events"]}`, `ordermesh:kafka.topics[0] = "orders events": must be a Kafka topic name`},
		{"dev", "kafka", `{"resources": {"limits": {"cpu": "1Mi5"}}}`, `ordermesh:kafka.resources.limits.cpu = "1Mi5": must be a Kubernetes quantity`},
		{"dev", "mesh", `{"ingressHost": "Orders_Host"}`, `ordermesh:mesh.ingressHost = "Orders_Host": must be a DNS name`},
		{"dev", "mesh", `{"tracingSampling": -1}`, `ordermesh:mesh.tracingSampling = -1: must be 0..100`},
		{"dev", "mesh", `{"ingressServiceType": "ExternalName"}`, `ordermesh:mesh.ingressServiceType = "ExternalName": must be one of ClusterIP, NodePort, LoadBalancer`},
		{"dev", "mesh", `{"jwt": {"jwksUri": "https://id/jwks"}}`, `ordermesh:mesh.jwt.issuer = "": must be set when mesh.jwt.jwksUri is set`},
		{"dev", "vault", `{"replicas": 3}`, `ordermesh:vault.replicas = 3: must be 1 when vault.ha is false`},
		{"dev", "vault", `{"storageSize": "lots"}`, `ordermesh:vault.storageSize = "lots": must be a Kubernetes quantity`},
		{"dev", "vault", `{"port": 0}`, `ordermesh:vault.port = 0: must be 1..65535`},
		{"dev", "observability", `{"tracingBackend": "zipkin"}`, `ordermesh:observability.tracingBackend = "zipkin": must be one of jaeger, tempo`},
		{"dev", "observability", `{"collectorPort": -1}`, `ordermesh:observability.collectorPort = -1: must be 1..65535`},
		{"dev", "observability", `{"slo": {"orderApiP99Ms": 0}}`, `ordermesh:observability.slo.orderApiP99Ms = 0: must be >= 1`},
		{"dev", "observability", `{"slo": {"consumerLagMax": -3}}`, `ordermesh:observability.slo.consumerLagMax = -3: must be >= 1`},
		{"dev", "observability", `{"slo": {"deadLetterRatePerMin": -0.5}}`, `ordermesh:observability.slo.deadLetterRatePerMin = -0.5: must be >= 0`},
		{"dev", "observability", `{"slo": {"sagaSuccessRatio": 0}}`, `ordermesh:observability.slo.sagaSuccessRatio = 0: must be in (0, 1]`},
		{"dev", "services", `{"order": {"metricsPort": 8080}}`, `ordermesh:services.order.metricsPort = 8080: must differ from services.order.grpcPort`},
		{"dev", "services", `{"order": {"zoneSpread": "always"}}`, `ordermesh:services.order.zoneSpread = "always": must be one of none, preferred, required`},
		{"dev", "services", `{"order": {"grpcPort": 0}}`, `ordermesh:services.order.grpcPort = 0: must be 1..65535`},
		{"dev", "services", `{"order": {"replicas": 3}}`, `ordermesh:services.order.replicas = 3: must be within services.order.hpa.minReplicas..maxReplicas (1..2)`},
		{"dev", "services", `{"order": {"hpa": {"minReplicas": 0}}}`, `ordermesh:services.order.hpa.minReplicas = 0: must be >= 1`},
		{"dev", "services", `{"order": {"methods": ["/Bad Method"]}}`, `ordermesh:services.order.methods[0] = "/Bad Method": must be a gRPC method path`},
		{"dev", "services", `{"payment": {"methods": ["/p.Payments/Pay"]}}`, `ordermesh:services.payment.methods = ["/p.Payments/Pay"]: need at least one entry in services.payment.callers`},
		{"dev", "services", `{"order": {"canary": {"enabled": true, "replicas": 0}}}`, `ordermesh:services.order.canary.replicas = 0: must be >= 1`},
		{"dev", "services", `{"order": {"canary": {"enabled": true, "tag": "latest"}}}`, `ordermesh:services.order.canary.tag = "latest": must be a pinned tag, not latest`},
		{"dev", "services", `{"order": {"image": {"tag": "v1 beta"}}}`, `ordermesh:services.order.image.tag = "v1 beta": must be an image tag`},
		{"dev", "services", `{"order": {"env": {"BAD-NAME": "x"}}}`, `ordermesh:services.order.env.BAD-NAME = "x": key must be an environment variable name`},
		{"dev", "services", `{"order": {"produces": ["orders.events.dlq", "audit.events"]}}`, `ordermesh:services.order.produces[1] = "audit.events": unknown topic`},
		{"dev", "services", `{"order": "big"}`, `ordermesh:services.order = "big": must be an object with keys image, grpcPort`},
		{"dev", "services", `{"order": {"callers": "ingress-gateway"}}`, `ordermesh:services.order.callers = "ingress-gateway": must be a list of strings`},
		{"dev", "services", `{"order": {"callers": [1]}}`, `ordermesh:services.order.callers[0] = 1: must be a string`},
		{"dev", "services", `{"order": {"env": {"A": 1}}}`, `ordermesh:services.order.env.A = 1: must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Resolve(tt.profile, map[string]string{"ordermesh:" + tt.key: tt.value})
			if err == nil {
				t.Fatalf("Resolve accepted ordermesh:%s = %s", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error lacks %q:\n%v", tt.want, err)
			}
		})
	}
}

func TestVPSModeValidation(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		want    []string
	}{
		{
			name:    "a server and an agent with pinned keys are valid",
			cluster: `{"mode":"vps","hosts":{"cp-1":{"address":"203.0.113.10","hostKey":"ssh-ed25519 AAAA","role":"server"},"w-1":{"address":"203.0.113.11","hostKey":"ssh-ed25519 BBBB","role":"agent"}}}`,
		},
		{
			name:    "no server is refused",
			cluster: `{"mode":"vps","hosts":{"w-1":{"address":"203.0.113.11","hostKey":"ssh-ed25519 BBBB","role":"agent"}}}`,
			want:    []string{`ordermesh:cluster.hosts = ["w-1"]: mode vps needs at least one host with role server`},
		},
		{
			name:    "every host problem is named",
			cluster: `{"mode":"vps","hosts":{"cp-1":{"role":"master","port":70000}}}`,
			want: []string{
				`ordermesh:cluster.hosts.cp-1.address = "": must be set`,
				`ordermesh:cluster.hosts.cp-1.hostKey = "": must be the pinned SSH host key`,
				`ordermesh:cluster.hosts.cp-1.role = "master": must be one of server, agent`,
				`ordermesh:cluster.hosts.cp-1.port = 70000: must be 1..65535`,
			},
		},
		{
			name:    "hosts outside mode vps are refused",
			cluster: `{"mode":"existing","hosts":{"cp-1":{"address":"a","hostKey":"k","role":"server"}}}`,
			want:    []string{`ordermesh:cluster.hosts = ["cp-1"]: hosts are only used when cluster.mode is vps`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve("prod", map[string]string{"ordermesh:cluster": tt.cluster})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve succeeded, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
