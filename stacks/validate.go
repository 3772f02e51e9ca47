package stacks

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

var (
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsNameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	topicRE     = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	imageRepoRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`)
	imageTagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	durationRE  = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	methodRE    = regexp.MustCompile(`^/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validator collects problems under the ordermesh: key prefix.
type validator struct{ probs Problems }

func (v *validator) add(key string, value any, allowed string) {
	v.probs = append(v.probs, fmt.Sprintf("%s:%s = %s: %s", Namespace, key, show(value), allowed))
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.add(key, value, "must be one of "+strings.Join(allowed, ", "))
	}
}

func (v *validator) intRange(key string, value, lo, hi int) {
	if value < lo || value > hi {
		v.add(key, value, fmt.Sprintf("must be %d..%d", lo, hi))
	}
}

func (v *validator) atLeast(key string, value, lo int) {
	if value < lo {
		v.add(key, value, fmt.Sprintf("must be >= %d", lo))
	}
}

func (v *validator) port(key string, value int) { v.intRange(key, value, 1, 65535) }

func (v *validator) label(key, value string) {
	if len(value) > 63 || !dnsLabelRE.MatchString(value) {
		v.add(key, value, "must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)")
	}
}

// quantity checks a required, positive Kubernetes quantity.
func (v *validator) quantity(key, value string) {
	q, err := ParseQuantity(value)
	switch {
	case err != nil:
		v.add(key, value, "must be a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi")
	case q.Sign() <= 0:
		v.add(key, value, "must be a positive quantity")
	}
}

func (v *validator) resources(key string, r Resources) {
	v.quantity(key+".requests.cpu", r.Requests.CPU)
	v.quantity(key+".requests.memory", r.Requests.Memory)
	v.quantity(key+".limits.cpu", r.Limits.CPU)
	v.quantity(key+".limits.memory", r.Limits.Memory)
	for _, p := range []struct{ name, req, lim string }{
		{"cpu", r.Requests.CPU, r.Limits.CPU},
		{"memory", r.Requests.Memory, r.Limits.Memory},
	} {
		req, err1 := ParseQuantity(p.req)
		lim, err2 := ParseQuantity(p.lim)
		if err1 == nil && err2 == nil && req.Sign() > 0 && lim.Cmp(req) < 0 {
			v.add(key+".limits."+p.name, p.lim, fmt.Sprintf("must be >= requests.%s (%s)", p.name, p.req))
		}
	}
}

// Validate returns every problem of c; an empty result means c is usable.
func (c *Config) Validate() Problems {
	v := &validator{}
	v.oneOf("profile", string(c.Profile), "dev", "staging", "prod")
	c.validateCluster(v)
	c.validateNamespaces(v)
	c.validateKafka(v)
	c.validateMesh(v)
	c.validateVault(v)
	c.validateObservability(v)
	for _, name := range c.SortedServiceNames() {
		c.validateService(v, name, c.Services[name])
	}
	return v.probs
}

func (c *Config) validateCluster(v *validator) {
	v.oneOf("cluster.mode", c.Cluster.Mode, "local", "existing", "vps")
	if c.Cluster.Mode == "local" && c.Cluster.LocalStateDir == "" {
		v.add("cluster.localStateDir", c.Cluster.LocalStateDir, "must be set when cluster.mode is local")
	}
	if c.Cluster.Mode != "vps" {
		if len(c.Cluster.Hosts) > 0 {
			v.add("cluster.hosts", slices.Sorted(maps.Keys(c.Cluster.Hosts)), "hosts are only used when cluster.mode is vps")
		}
		return
	}
	servers := 0
	for _, name := range slices.Sorted(maps.Keys(c.Cluster.Hosts)) {
		h := c.Cluster.Hosts[name]
		key := "cluster.hosts." + name
		v.label(key, name)
		if h.Address == "" {
			v.add(key+".address", h.Address, "must be set (the host's public address)")
		}
		if h.Port != 0 {
			v.port(key+".port", h.Port)
		}
		if h.HostKey == "" {
			v.add(key+".hostKey", h.HostKey, `must be the pinned SSH host key, e.g. "ssh-ed25519 AAAA..." (ssh-keyscan, verified out of band)`)
		}
		v.oneOf(key+".role", h.Role, "server", "agent")
		if h.Role == "server" {
			servers++
		}
	}
	if servers == 0 {
		v.add("cluster.hosts", slices.Sorted(maps.Keys(c.Cluster.Hosts)), "mode vps needs at least one host with role server")
	}
}

func (c *Config) validateNamespaces(v *validator) {
	n := c.Namespaces
	for _, f := range []struct{ key, value string }{
		{"apps", n.Apps}, {"kafka", n.Kafka}, {"mesh", n.Mesh}, {"ingress", n.Ingress},
		{"vault", n.Vault}, {"observability", n.Observability},
	} {
		key := "namespaces." + f.key
		v.label(key, f.value)
		// Platform components may share a namespace, but the apps namespace is locked down
		// by a default-deny NetworkPolicy that would cut off anything else in it.
		if f.key != "apps" && f.value == n.Apps {
			v.add(key, f.value, "must differ from namespaces.apps (the apps namespace denies all traffic by default)")
		}
	}
}

func (c *Config) validateKafka(v *validator) {
	k := c.Kafka
	v.label("kafka.clusterName", k.ClusterName)
	v.atLeast("kafka.brokers", k.Brokers, 1)
	if k.DualRole {
		if k.Controllers != 0 {
			v.add("kafka.controllers", k.Controllers, "must be 0 when kafka.dualRole is true (the broker pool runs the controllers)")
		}
	} else if k.Controllers < 1 || k.Controllers%2 == 0 {
		v.add("kafka.controllers", k.Controllers, "must be an odd number >= 1 (a KRaft quorum) when kafka.dualRole is false")
	}
	if k.Replication < 1 || (k.Brokers >= 1 && k.Replication > k.Brokers) {
		v.add("kafka.replication", k.Replication, fmt.Sprintf("must be 1..kafka.brokers (%d)", k.Brokers))
	}
	if k.MinInsyncReplicas < 1 || (k.Replication >= 1 && k.MinInsyncReplicas > k.Replication) {
		v.add("kafka.minInsyncReplicas", k.MinInsyncReplicas, fmt.Sprintf("must be 1..kafka.replication (%d)", k.Replication))
	}
	v.atLeast("kafka.partitions", k.Partitions, 1)
	v.atLeast("kafka.retentionHours", k.RetentionHours, 1)
	v.atLeast("kafka.dlqRetentionHours", k.DLQRetentionHours, 1)
	v.quantity("kafka.storageSize", k.StorageSize)
	v.port("kafka.port", k.Port)
	if len(k.Topics) == 0 {
		v.add("kafka.topics", k.Topics, "must name at least one topic")
	}
	seen := map[string]bool{}
	for i, t := range k.Topics {
		key := fmt.Sprintf("kafka.topics[%d]", i)
		switch {
		case !topicRE.MatchString(t) || len(t)+len(DLQSuffix) > 249:
			v.add(key, t, "must be a Kafka topic name (letters, digits, '.', '_', '-', at most 245 characters)")
		case strings.HasSuffix(t, DLQSuffix):
			v.add(key, t, "must not end in "+DLQSuffix+" (dead-letter topics are derived)")
		case seen[t]:
			v.add(key, t, "must be unique")
		}
		seen[t] = true
	}
	v.resources("kafka.resources", k.Resources)
}

func (c *Config) validateMesh(v *validator) {
	m := c.Mesh
	v.oneOf("mesh.mtlsMode", m.MTLSMode, "STRICT", "PERMISSIVE")
	if m.TracingSampling < 0 || m.TracingSampling > 100 {
		v.add("mesh.tracingSampling", m.TracingSampling, "must be 0..100 (percent)")
	}
	if len(m.IngressHost) > 253 || !dnsNameRE.MatchString(m.IngressHost) {
		v.add("mesh.ingressHost", m.IngressHost, "must be a DNS name")
	}
	v.oneOf("mesh.ingressServiceType", m.IngressServiceType, "ClusterIP", "NodePort", "LoadBalancer")
	switch {
	case m.JWT.Issuer == "" && m.JWT.JWKSURI != "":
		v.add("mesh.jwt.issuer", m.JWT.Issuer, "must be set when mesh.jwt.jwksUri is set")
	case m.JWT.Issuer != "":
		u, err := url.Parse(m.JWT.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			v.add("mesh.jwt.jwksUri", m.JWT.JWKSURI, "must be an https URL when mesh.jwt.issuer is set")
		}
	}
}

func (c *Config) validateVault(v *validator) {
	o := c.Vault
	v.oneOf("vault.flavor", o.Flavor, "vault", "openbao")
	switch {
	case o.HA && (o.Replicas < 3 || o.Replicas%2 == 0):
		v.add("vault.replicas", o.Replicas, "must be an odd number >= 3 when vault.ha is true (raft quorum)")
	case !o.HA && o.Replicas != 1:
		v.add("vault.replicas", o.Replicas, "must be 1 when vault.ha is false")
	}
	v.quantity("vault.storageSize", o.StorageSize)
	v.port("vault.port", o.Port)
}

func (c *Config) validateObservability(v *validator) {
	o := c.Observability
	if !durationRE.MatchString(o.Retention) {
		v.add("observability.retention", o.Retention, "must be a Prometheus duration such as 12h, 15d or 4w")
	}
	v.oneOf("observability.tracingBackend", o.TracingBackend, "jaeger", "tempo")
	v.port("observability.collectorPort", o.CollectorPort)
	if o.SLO.SagaSuccessRatio <= 0 || o.SLO.SagaSuccessRatio > 1 {
		v.add("observability.slo.sagaSuccessRatio", o.SLO.SagaSuccessRatio, "must be in (0, 1]")
	}
	v.atLeast("observability.slo.orderApiP99Ms", o.SLO.OrderAPIP99Ms, 1)
	v.atLeast("observability.slo.consumerLagMax", o.SLO.ConsumerLagMax, 1)
	if o.SLO.DeadLetterRatePerMin < 0 {
		v.add("observability.slo.deadLetterRatePerMin", o.SLO.DeadLetterRatePerMin, "must be >= 0")
	}
}

func (c *Config) validateService(v *validator, name string, s Service) {
	p := "services." + name
	v.label(p, name)
	if !imageRepoRE.MatchString(s.Image.Repository) {
		v.add(p+".image.repository", s.Image.Repository, "must be an image repository without tag, e.g. ghcr.io/ordermesh/order")
	}
	v.imageTag(p+".image.tag", s.Image.Tag)
	v.port(p+".grpcPort", s.GRPCPort)
	v.port(p+".metricsPort", s.MetricsPort)
	if s.GRPCPort == s.MetricsPort {
		v.add(p+".metricsPort", s.MetricsPort, "must differ from "+p+".grpcPort")
	}
	v.resources(p+".resources", s.Resources)
	v.oneOf(p+".zoneSpread", s.ZoneSpread, "none", "preferred", "required")
	v.atLeast(p+".replicas", s.Replicas, 1)
	switch {
	case s.PDB.MinAvailable < 0:
		v.add(p+".pdb.minAvailable", s.PDB.MinAvailable, "must be >= 0")
	case s.Replicas >= 1 && s.PDB.MinAvailable >= s.Replicas:
		v.add(p+".pdb.minAvailable", s.PDB.MinAvailable, fmt.Sprintf("must be below %s.replicas (%d) so a PDB allows a disruption (replicas >= minAvailable+1)", p, s.Replicas))
	}
	if s.HPA.Enabled {
		v.atLeast(p+".hpa.minReplicas", s.HPA.MinReplicas, 1)
		if s.HPA.MinReplicas >= 1 && s.HPA.MinReplicas <= s.PDB.MinAvailable {
			v.add(p+".hpa.minReplicas", s.HPA.MinReplicas, fmt.Sprintf("must be >= %s.pdb.minAvailable+1 (%d)", p, s.PDB.MinAvailable+1))
		}
		if s.HPA.MaxReplicas < s.HPA.MinReplicas {
			v.add(p+".hpa.maxReplicas", s.HPA.MaxReplicas, fmt.Sprintf("must be >= %s.hpa.minReplicas (%d)", p, s.HPA.MinReplicas))
		}
		v.intRange(p+".hpa.targetCPUPercent", s.HPA.TargetCPUPercent, 1, 100)
		if s.HPA.MaxReplicas >= s.HPA.MinReplicas && (s.Replicas < s.HPA.MinReplicas || s.Replicas > s.HPA.MaxReplicas) {
			v.add(p+".replicas", s.Replicas, fmt.Sprintf("must be within %s.hpa.minReplicas..maxReplicas (%d..%d)", p, s.HPA.MinReplicas, s.HPA.MaxReplicas))
		}
	}
	allowedCallers := append([]string{IngressGateway}, ServiceNames...)
	seen := map[string]bool{}
	for i, caller := range s.Callers {
		key := fmt.Sprintf("%s.callers[%d]", p, i)
		switch {
		case caller == name:
			v.add(key, caller, "must not be the service itself")
		case !slices.Contains(allowedCallers, caller):
			v.add(key, caller, "unknown caller; allowed: "+strings.Join(allowedCallers, ", "))
		case seen[caller]:
			v.add(key, caller, "must be unique")
		}
		seen[caller] = true
	}
	for i, m := range s.Methods {
		if !methodRE.MatchString(m) {
			v.add(fmt.Sprintf("%s.methods[%d]", p, i), m, "must be a gRPC method path /package.Service/Method")
		}
	}
	if len(s.Methods) > 0 && len(s.Callers) == 0 {
		v.add(p+".methods", s.Methods, "need at least one entry in "+p+".callers")
	}
	topics := c.Kafka.Topics
	allowedTopics := strings.Join(topics, ", ") + " (or their " + DLQSuffix + " partners)"
	for _, list := range []struct {
		key    string
		topics []string
	}{{p + ".produces", s.Produces}, {p + ".consumes", s.Consumes}} {
		for i, t := range list.topics {
			if !slices.Contains(topics, strings.TrimSuffix(t, DLQSuffix)) {
				v.add(fmt.Sprintf("%s[%d]", list.key, i), t, "unknown topic; allowed: "+allowedTopics)
			}
		}
	}
	v.intRange(p+".canary.weight", s.Canary.Weight, 0, 100)
	if s.Canary.Enabled {
		if !c.Mesh.Enabled {
			v.add(p+".canary.enabled", true, "needs mesh.enabled (weighted routing is done by Istio)")
		}
		v.imageTag(p+".canary.tag", s.Canary.Tag)
		v.atLeast(p+".canary.replicas", s.Canary.Replicas, 1)
	}
	for _, k := range sortedKeys(s.Env) {
		if !envNameRE.MatchString(k) {
			v.add(p+".env."+k, s.Env[k], "key must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
		}
	}
}

func (v *validator) imageTag(key, tag string) {
	switch {
	case tag == "latest":
		v.add(key, tag, "must be a pinned tag, not latest")
	case !imageTagRE.MatchString(tag):
		v.add(key, tag, "must be an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
