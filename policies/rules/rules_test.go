package rules

import (
	"slices"
	"strings"
	"testing"
)

// c0 addresses the first container in with(); u0 is how findings name it.
const (
	c0 = "spec.template.spec.containers.0."
	u0 = "spec.template.spec.containers[0]."
)

type ruleCase struct {
	rule    string
	name    string
	profile string // default dev
	res     []Resource
	// wantFail are substrings that must each appear in one violation; no other violations may appear.
	wantFail []string
	// wantUnknown are field paths that must each be reported as unknown; no other unknowns may appear.
	wantUnknown []string
}

var deployment = goodDeployment("order", 3)

// stackOK is a namespace as components/service lays it out: replicated Deployment, PDB, default deny, an allow
// policy and mesh-wide STRICT mTLS.
func stackOK(extra ...Resource) []Resource {
	return append([]Resource{
		res(tDeployment, deployment),
		res(tPDB, pdb("order", map[string]any{"app": "order"}, "minAvailable", 2)),
		res(tNetworkPolicy, defaultDenyNP),
		res(tNetworkPolicy, allowNP("order")),
		res(tPeerAuth, peerAuth("istio-system", "STRICT")),
	}, extra...)
}

func without(rs []Resource, name string) []Resource {
	return slices.DeleteFunc(slices.Clone(rs), func(r Resource) bool { return r.Name == name })
}

var cases = []ruleCase{
	// workload-resources
	{rule: "workload-resources", name: "requests and limits set", res: []Resource{res(tDeployment, deployment)}},
	{rule: "workload-resources", name: "missing limits", res: []Resource{res(tDeployment, with(deployment, c0+"resources.limits", deleted))},
		wantFail: []string{`"app": resources.limits.cpu`, `"app": resources.limits.memory`}},
	{rule: "workload-resources", name: "init container without requests", res: []Resource{res(tDeployment,
		with(deployment, "spec.template.spec.initContainers", []any{map[string]any{"name": "migrate", "image": "m:1",
			"resources": map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi"}}}}))},
		wantFail: []string{`"migrate": resources.requests.cpu`, `"migrate": resources.requests.memory`}},
	{rule: "workload-resources", name: "system namespace skipped", res: []Resource{res(tDeployment,
		with(with(deployment, "metadata.namespace", "kube-system"), c0+"resources", deleted))}},
	{rule: "workload-resources", name: "exempt by annotation", res: []Resource{res(tDeployment,
		with(with(deployment, "metadata.annotations", map[string]any{ExemptAnnotation: "image-tag-pinned, workload-resources"}),
			c0+"resources", deleted))}},
	{rule: "workload-resources", name: "limit unknown during preview", res: []Resource{res(tDeployment, with(deployment, c0+"resources.limits.memory", unknown))},
		wantUnknown: []string{u0 + "resources.limits.memory"}},
	{rule: "workload-resources", name: "container list unknown", res: []Resource{res(tDeployment, with(deployment, "spec.template.spec.containers", unknown))},
		wantUnknown: []string{"spec.template.spec.containers"}},

	// workload-probes
	{rule: "workload-probes", name: "both probes", res: []Resource{res(tDeployment, deployment)}},
	{rule: "workload-probes", name: "no liveness probe", res: []Resource{res(tStatefulSet, with(deployment, c0+"livenessProbe", deleted))},
		wantFail: []string{`"app": livenessProbe is not set`}},
	{rule: "workload-probes", name: "jobs need no probes", res: []Resource{res(tJob, with(with(deployment, c0+"livenessProbe", deleted), c0+"readinessProbe", deleted))}},
	{rule: "workload-probes", name: "cronjob skipped", res: []Resource{res(tCronJob, map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "x"}}}}}}}})}},
	{rule: "workload-probes", name: "probe unknown", res: []Resource{res(tDeployment, with(deployment, c0+"readinessProbe", unknown))},
		wantUnknown: []string{u0 + "readinessProbe"}},

	// image-tag-pinned
	{rule: "image-tag-pinned", name: "version tag", res: []Resource{res(tDeployment, deployment)}},
	{rule: "image-tag-pinned", name: "digest with registry port", res: []Resource{res(tDeployment,
		with(deployment, c0+"image", "registry.local:5000/order@sha256:0123456789abcdef"))}},
	{rule: "image-tag-pinned", name: "registry port but no tag", res: []Resource{res(tDeployment, with(deployment, c0+"image", "registry.local:5000/order"))},
		wantFail: []string{`"registry.local:5000/order" has no tag`}},
	{rule: "image-tag-pinned", name: "latest", res: []Resource{res(tDeployment, with(deployment, c0+"image", "order:latest"))},
		wantFail: []string{`"order:latest" uses the latest tag`}},
	{rule: "image-tag-pinned", name: "image unknown (built by the same stack)", res: []Resource{res(tDeployment, with(deployment, c0+"image", unknown))},
		wantUnknown: []string{u0 + "image"}},

	// container-security-context
	{rule: "container-security-context", name: "hardened", res: []Resource{res(tDeployment, deployment)}},
	{rule: "container-security-context", name: "container-level seccomp and non-root", res: []Resource{res(tDeployment,
		with(with(with(deployment, "spec.template.spec.securityContext", deleted), c0+"securityContext.runAsNonRoot", true),
			c0+"securityContext.seccompProfile", map[string]any{"type": "Localhost", "localhostProfile": "p.json"}))}},
	{rule: "container-security-context", name: "nothing set", res: []Resource{res(tDeployment,
		with(with(deployment, "spec.template.spec.securityContext", deleted), c0+"securityContext", deleted))},
		wantFail: []string{"runAsNonRoot must be true", "readOnlyRootFilesystem must be true",
			"allowPrivilegeEscalation must be false", "capabilities.drop must contain ALL", "seccompProfile.type must be"}},
	{rule: "container-security-context", name: "container overrides pod non-root and is privileged", res: []Resource{res(tDeployment,
		with(with(deployment, c0+"securityContext.runAsNonRoot", false), c0+"securityContext.privileged", true))},
		wantFail: []string{"runAsNonRoot must be true", "privileged must not be true"}},
	{rule: "container-security-context", name: "drop list unknown", res: []Resource{res(tDeployment, with(deployment, c0+"securityContext.capabilities.drop", unknown))},
		wantUnknown: []string{u0 + "securityContext.capabilities.drop"}},

	// no-host-access
	{rule: "no-host-access", name: "no host access", res: []Resource{res(tDeployment, deployment)}},
	{rule: "no-host-access", name: "host network and hostPath", res: []Resource{res(tDeployment,
		with(with(deployment, "spec.template.spec.hostNetwork", true), "spec.template.spec.volumes",
			[]any{map[string]any{"name": "docker", "hostPath": map[string]any{"path": "/var/run"}}}))},
		wantFail: []string{"hostNetwork must not be true", `volume "docker" mounts a hostPath`}},
	{rule: "no-host-access", name: "hostPID unknown", res: []Resource{res(tDeployment, with(deployment, "spec.template.spec.hostPID", unknown))},
		wantUnknown: []string{"spec.template.spec.hostPID"}},

	// replicated-deployment-pdb
	{rule: "replicated-deployment-pdb", name: "PDB minAvailable 2 of 3", res: stackOK()},
	{rule: "replicated-deployment-pdb", name: "single replica needs no PDB", res: []Resource{res(tDeployment, goodDeployment("order", 1))}},
	{rule: "replicated-deployment-pdb", name: "maxUnavailable 34%", res: []Resource{res(tDeployment, deployment),
		res(tPDB, pdb("order", map[string]any{"app": "order"}, "maxUnavailable", "34%"))}},
	{rule: "replicated-deployment-pdb", name: "no PDB", res: []Resource{res(tDeployment, deployment)},
		wantFail: []string{`Deployment "order" has 3 replicas but no PodDisruptionBudget selects its pods`}},
	{rule: "replicated-deployment-pdb", name: "PDB selects other pods", res: []Resource{res(tDeployment, deployment),
		res(tPDB, pdb("payment", map[string]any{"app": "payment"}, "minAvailable", 1))},
		wantFail: []string{"no PodDisruptionBudget selects its pods"}},
	{rule: "replicated-deployment-pdb", name: "minAvailable equals replicas blocks drains", res: []Resource{res(tDeployment, deployment),
		res(tPDB, pdb("order", map[string]any{"app": "order"}, "minAvailable", 3))},
		wantFail: []string{`PodDisruptionBudget "order" allows no disruption (minAvailable 3 with 3 replicas)`}},
	{rule: "replicated-deployment-pdb", name: "minAvailable 100%", res: []Resource{res(tDeployment, deployment),
		res(tPDB, pdb("order", map[string]any{"app": "order"}, "minAvailable", "100%"))},
		wantFail: []string{"allows no disruption (minAvailable 100%"}},
	{rule: "replicated-deployment-pdb", name: "maxUnavailable 0", res: []Resource{res(tDeployment, deployment),
		res(tPDB, pdb("order", map[string]any{"app": "order"}, "maxUnavailable", 0))},
		wantFail: []string{"allows no disruption (maxUnavailable 0)"}},
	{rule: "replicated-deployment-pdb", name: "autoscaled without spec.replicas uses the HPA floor", res: []Resource{
		res(tDeployment, with(deployment, "spec.replicas", deleted)),
		res("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", map[string]any{
			"metadata": map[string]any{"name": "order", "namespace": "orders"},
			"spec": map[string]any{"minReplicas": 2, "maxReplicas": 6,
				"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "order"}}})},
		wantFail: []string{`Deployment "order" has 2 replicas but no PodDisruptionBudget`}},
	{rule: "replicated-deployment-pdb", name: "replicas unknown", res: []Resource{res(tDeployment, with(deployment, "spec.replicas", unknown))},
		wantUnknown: []string{"spec.replicas"}},

	// namespace-default-deny
	{rule: "namespace-default-deny", name: "default deny present", res: stackOK()},
	{rule: "namespace-default-deny", name: "policyTypes defaulted to Ingress", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, with(defaultDenyNP, "spec.policyTypes", deleted))}},
	{rule: "namespace-default-deny", name: "egress-only deny is no ingress deny", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, with(defaultDenyNP, "spec.policyTypes", []any{"Egress"}))},
		wantFail: []string{"no default-deny NetworkPolicy"}},
	{rule: "namespace-default-deny", name: "platform namespace is not an app namespace", res: []Resource{
		res(tDeployment, with(deployment, "metadata.namespace", "vault")),
		res("kubernetes:core/v1:Namespace", map[string]any{"metadata": map[string]any{"name": "vault",
			"labels": map[string]any{RoleLabel: "vault"}}})}},
	{rule: "namespace-default-deny", name: "apps-labelled namespace is checked", res: []Resource{res(tDeployment, deployment),
		res("kubernetes:core/v1:Namespace", map[string]any{"metadata": map[string]any{"name": "orders",
			"labels": map[string]any{RoleLabel: "apps"}}})},
		wantFail: []string{`namespace "orders" has no default-deny NetworkPolicy`}},
	{rule: "namespace-default-deny", name: "only allow policies", res: without(stackOK(), "default-deny"),
		wantFail: []string{`namespace "orders" has no default-deny NetworkPolicy`}},
	{rule: "namespace-default-deny", name: "empty selector that allows ingress is no deny", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, with(defaultDenyNP, "spec.ingress", []any{map[string]any{}}))},
		wantFail: []string{"no default-deny NetworkPolicy"}},
	{rule: "namespace-default-deny", name: "default deny in another namespace", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, with(defaultDenyNP, "metadata.namespace", "payments"))},
		wantFail: []string{`namespace "orders"`}},
	{rule: "namespace-default-deny", name: "policy namespace unknown", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, with(defaultDenyNP, "metadata.namespace", unknown))},
		wantUnknown: []string{"metadata.namespace"}},

	// workload-network-policy
	{rule: "workload-network-policy", name: "selected by its allow policy", res: stackOK()},
	{rule: "workload-network-policy", name: "selected by matchExpressions", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, networkPolicy("np", map[string]any{"matchExpressions": []any{
			map[string]any{"key": "app", "operator": "In", "values": []any{"order", "payment"}}}}))}},
	{rule: "workload-network-policy", name: "platform namespace skipped", res: []Resource{
		res(tJob, with(deployment, "metadata.namespace", "vault")),
		res("kubernetes:core/v1:Namespace", map[string]any{"metadata": map[string]any{"name": "vault",
			"labels": map[string]any{RoleLabel: "vault"}}})}},
	{rule: "workload-network-policy", name: "only the namespace default", res: without(stackOK(), "order-allow"),
		wantFail: []string{`Deployment "order" in namespace "orders" is selected by no NetworkPolicy of its own`}},
	{rule: "workload-network-policy", name: "selector label unknown", res: []Resource{res(tDeployment, deployment),
		res(tNetworkPolicy, networkPolicy("np", map[string]any{"matchLabels": map[string]any{"app": unknown}}))},
		wantUnknown: []string{"spec.podSelector.matchLabels.app"}},

	// mesh-strict-mtls
	{rule: "mesh-strict-mtls", name: "mesh-wide STRICT", res: stackOK()},
	{rule: "mesh-strict-mtls", name: "no Istio in the stack", res: without(stackOK(), "default")},
	{rule: "mesh-strict-mtls", name: "namespace-wide STRICT", res: append(without(stackOK(), "default"),
		res(tPeerAuth, peerAuth("orders", "STRICT")))},
	{rule: "mesh-strict-mtls", name: "only PERMISSIVE", res: append(without(stackOK(), "default"),
		res(tPeerAuth, peerAuth("orders", "PERMISSIVE"))),
		wantFail: []string{`PeerAuthentication "default" in namespace "orders" sets mtls.mode PERMISSIVE`,
			`namespace "orders" is not covered by a STRICT PeerAuthentication`}},
	{rule: "mesh-strict-mtls", name: "Istio routing without any STRICT", res: append(without(stackOK(), "default"),
		res(tVirtualService, virtualService(100))),
		wantFail: []string{`namespace "orders" is not covered`}},
	{rule: "mesh-strict-mtls", name: "port-level PERMISSIVE for metrics", res: append(stackOK(), res(tPeerAuth, with(peerAuth("orders", "STRICT"),
		"spec.portLevelMtls", map[string]any{"9090": map[string]any{"mode": "PERMISSIVE"}})))},
	{rule: "mesh-strict-mtls", name: "port-level DISABLE", res: append(stackOK(), res(tPeerAuth, with(peerAuth("orders", "STRICT"),
		"spec.portLevelMtls", map[string]any{"9090": map[string]any{"mode": "DISABLE"}}))),
		wantFail: []string{`PeerAuthentication "default" sets port 9090 to mtls.mode DISABLE`}},
	{rule: "mesh-strict-mtls", name: "mode unknown", res: append(without(stackOK(), "default"),
		res(tPeerAuth, peerAuth("istio-system", "STRICT")), res(tPeerAuth, with(peerAuth("orders", "x"), "spec.mtls.mode", unknown))),
		wantUnknown: []string{"spec.mtls.mode"}},

	// mesh-no-allow-all-authorization
	{rule: "mesh-no-allow-all-authorization", name: "principals and operations", res: []Resource{res(tAuthzPolicy, jsonObj(`{
		"metadata": {"name": "order", "namespace": "orders"},
		"spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/orders/sa/gateway"]}}],
		         "to": [{"operation": {"methods": ["POST"]}}]}]}}`))}},
	{rule: "mesh-no-allow-all-authorization", name: "ALLOW with no rules denies all", res: []Resource{res(tAuthzPolicy, jsonObj(`{
		"metadata": {"name": "deny-all", "namespace": "orders"}, "spec": {}}`))}},
	{rule: "mesh-no-allow-all-authorization", name: "DENY with empty rule", res: []Resource{res(tAuthzPolicy, jsonObj(`{
		"metadata": {"name": "deny", "namespace": "orders"}, "spec": {"action": "DENY", "rules": [{}]}}`))}},
	{rule: "mesh-no-allow-all-authorization", name: "empty rule allows all", res: []Resource{res(tAuthzPolicy, jsonObj(`{
		"metadata": {"name": "allow-all", "namespace": "orders"}, "spec": {"rules": [{}]}}`))},
		wantFail: []string{`AuthorizationPolicy "allow-all": rules[0] allows all requests`}},
	{rule: "mesh-no-allow-all-authorization", name: "wildcard principals", res: []Resource{res(tAuthzPolicy, jsonObj(`{
		"metadata": {"name": "star", "namespace": "orders"},
		"spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"principals": ["*"]}}]}]}}`))},
		wantFail: []string{`"star": rules[0] allows all`}},
	{rule: "mesh-no-allow-all-authorization", name: "rules unknown", res: []Resource{res(tAuthzPolicy, with(jsonObj(`{
		"metadata": {"name": "x", "namespace": "orders"}, "spec": {}}`), "spec.rules", unknown))},
		wantUnknown: []string{"spec.rules"}},

	// canary-weights-sum-100
	{rule: "canary-weights-sum-100", name: "90/10", res: []Resource{res(tVirtualService, virtualService(90, 10))}},
	{rule: "canary-weights-sum-100", name: "single destination", res: []Resource{res(tVirtualService, virtualService(nil))}},
	{rule: "canary-weights-sum-100", name: "90/20", res: []Resource{res(tVirtualService, virtualService(90, 20))},
		wantFail: []string{`VirtualService "order": http[0] "canary" weights 90+20 sum to 110, not 100`}},
	{rule: "canary-weights-sum-100", name: "weights missing on a split", res: []Resource{res(tVirtualService, virtualService(nil, nil))},
		wantFail: []string{"weights 0+0 sum to 0"}},
	{rule: "canary-weights-sum-100", name: "canary weight from config unknown", res: []Resource{res(tVirtualService, virtualService(90, unknown))},
		wantUnknown: []string{"spec.http[0].route[1].weight"}},

	// kafka-topic-replication
	{rule: "kafka-topic-replication", name: "prod 3/2", profile: "prod", res: []Resource{res(tKafkaTopic, kafkaTopic(3, "2"))}},
	{rule: "kafka-topic-replication", name: "dev single replica", res: []Resource{res(tKafkaTopic, kafkaTopic(1, 1))}},
	{rule: "kafka-topic-replication", name: "dev without settings", res: []Resource{res(tKafkaTopic, kafkaTopic(nil, nil))}},
	{rule: "kafka-topic-replication", name: "prod single replica", profile: "prod", res: []Resource{res(tKafkaTopic, kafkaTopic(1, 1))},
		wantFail: []string{`topic "orders": spec.replicas is 1 (profile prod needs >= 3)`, "min.insync.replicas is 1 (profile prod needs >= 2)"}},
	{rule: "kafka-topic-replication", name: "prod unset", profile: "prod", res: []Resource{res(tKafkaTopic, kafkaTopic(nil, nil))},
		wantFail: []string{"spec.replicas is not set", "min.insync.replicas is not set"}},
	{rule: "kafka-topic-replication", name: "min ISR equal to replicas", profile: "prod", res: []Resource{res(tKafkaTopic, kafkaTopic(3, 3))},
		wantFail: []string{"min.insync.replicas 3 is not below replicas 3"}},
	{rule: "kafka-topic-replication", name: "replicas unknown", profile: "prod", res: []Resource{res(tKafkaTopic, kafkaTopic(unknown, 2))},
		wantUnknown: []string{"spec.replicas"}},

	// kafka-no-wildcard-acls
	{rule: "kafka-no-wildcard-acls", name: "literal and service prefix", res: []Resource{res(tKafkaUser, kafkaUser(
		acl("topic", "orders", "literal", "Write"), acl("group", "order-", "prefix", "Read"), acl("cluster", "", "", "IdempotentWrite")))}},
	{rule: "kafka-no-wildcard-acls", name: "star topic", res: []Resource{res(tKafkaUser, kafkaUser(acl("topic", "*", "literal", "All")))},
		wantFail: []string{`KafkaUser "order": acls[0] grants [All] on every topic`}},
	{rule: "kafka-no-wildcard-acls", name: "empty prefix group", res: []Resource{res(tKafkaUser, kafkaUser(acl("group", "", "prefix", "Read")))},
		wantFail: []string{"acls[0] grants [Read] on every group"}},
	{rule: "kafka-no-wildcard-acls", name: "acls unknown", res: []Resource{res(tKafkaUser, with(kafkaUser(), "spec.authorization.acls", unknown))},
		wantUnknown: []string{"spec.authorization.acls"}},

	// service-type-restricted
	{rule: "service-type-restricted", name: "ClusterIP", res: []Resource{res(tService, service("order", "ClusterIP", nil))}},
	{rule: "service-type-restricted", name: "ingress gateway LoadBalancer", res: []Resource{res(tService,
		service("istio-ingressgateway", "LoadBalancer", map[string]any{"istio": "ingressgateway"}))}},
	{rule: "service-type-restricted", name: "LoadBalancer", res: []Resource{res(tService, service("order", "LoadBalancer", nil))},
		wantFail: []string{`Service "order" has type LoadBalancer`}},
	{rule: "service-type-restricted", name: "NodePort", res: []Resource{res(tService, service("order", "NodePort", nil))},
		wantFail: []string{"type NodePort"}},
	{rule: "service-type-restricted", name: "type unknown", res: []Resource{res(tService, with(service("order", "", nil), "spec.type", unknown))},
		wantUnknown: []string{"spec.type"}},

	// no-plaintext-secrets
	{rule: "no-plaintext-secrets", name: "secretKeyRef and paths", res: []Resource{res(tDeployment, deployment),
		res(tConfigMap, configMap(map[string]any{"LOG_LEVEL": "info", "DB_PASSWORD_FILE": "/vault/secrets/db", "TOKEN_TTL": "15m", "SESSION_SECRET": ""}))}},
	{rule: "no-plaintext-secrets", name: "literal password env", res: []Resource{res(tDeployment,
		with(deployment, c0+"env.1", map[string]any{"name": "DB_PASSWORD", "value": "hunter2"}))},
		wantFail: []string{`env DB_PASSWORD has a literal value: name suggests a credential`}},
	{rule: "no-plaintext-secrets", name: "URL with password in innocent name", res: []Resource{res(tDeployment,
		with(deployment, c0+"env.0", map[string]any{"name": "DATABASE", "value": "postgres://order:s3cret@db:5432/order"}))},
		wantFail: []string{"env DATABASE has a literal value: value looks like a credential"}},
	{rule: "no-plaintext-secrets", name: "private key in ConfigMap", res: []Resource{res(tConfigMap,
		configMap(map[string]any{"tls.key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}))},
		wantFail: []string{`data key "tls.key": value looks like a credential`}},
	{rule: "no-plaintext-secrets", name: "api key in ConfigMap", res: []Resource{res(tConfigMap,
		configMap(map[string]any{"PAYMENT_API_KEY": "pk_live_123"}))},
		wantFail: []string{`data key "PAYMENT_API_KEY": name suggests a credential`}},
	{rule: "no-plaintext-secrets", name: "env value unknown", res: []Resource{res(tDeployment, with(deployment, c0+"env.0.value", unknown))},
		wantUnknown: []string{u0 + "env[0].value"}},
}

func TestRules(t *testing.T) {
	byName := map[string]Rule{}
	for _, r := range All() {
		byName[r.Name] = r
	}
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			rule, ok := byName[tc.rule]
			if !ok {
				t.Fatalf("no rule %q", tc.rule)
			}
			profile := tc.profile
			if profile == "" {
				profile = "dev"
			}
			p := ParamsFor(profile)
			var got []Finding
			if rule.CheckStack != nil {
				got = rule.RunStack(tc.res, p)
			} else {
				for _, r := range tc.res {
					got = append(got, rule.Run(r, p)...)
				}
			}
			checkFindings(t, got, tc.wantFail, tc.wantUnknown)
		})
	}
}

func checkFindings(t *testing.T, got []Finding, wantFail, wantUnknown []string) {
	t.Helper()
	var fails, unknowns []string
	for _, f := range got {
		if f.Unknown {
			unknowns = append(unknowns, f.Field)
		} else {
			fails = append(fails, f.Message)
		}
	}
	for _, w := range wantFail {
		if !slices.ContainsFunc(fails, func(m string) bool { return strings.Contains(m, w) }) {
			t.Errorf("missing violation containing %q; got %q", w, fails)
		}
	}
	for _, m := range fails {
		if !slices.ContainsFunc(wantFail, func(w string) bool { return strings.Contains(m, w) }) {
			t.Errorf("unexpected violation %q", m)
		}
	}
	slices.Sort(unknowns)
	want := slices.Clone(wantUnknown)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(unknowns), want) {
		t.Errorf("unknown fields = %q, want %q", unknowns, want)
	}
}

// TestEveryRuleHasPassingAndFailingFixtures keeps the fixture table honest as rules are added.
func TestEveryRuleHasPassingAndFailingFixtures(t *testing.T) {
	for _, r := range All() {
		var pass, fail bool
		for _, tc := range cases {
			if tc.rule != r.Name {
				continue
			}
			pass = pass || (len(tc.wantFail) == 0 && len(tc.wantUnknown) == 0)
			fail = fail || len(tc.wantFail) > 0
		}
		if !pass || !fail {
			t.Errorf("rule %s: passing fixture %v, failing fixture %v", r.Name, pass, fail)
		}
	}
}

func TestRuleMetadata(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		if seen[r.Name] {
			t.Errorf("duplicate rule %s", r.Name)
		}
		seen[r.Name] = true
		if r.Name != strings.ToLower(r.Name) || strings.ContainsAny(r.Name, " _") {
			t.Errorf("rule %q is not kebab-case", r.Name)
		}
		if r.Description == "" || r.Remediation == "" {
			t.Errorf("rule %s lacks description or remediation", r.Name)
		}
		if (r.CheckResource == nil) == (r.CheckStack == nil) {
			t.Errorf("rule %s must set exactly one of CheckResource and CheckStack", r.Name)
		}
	}
}
