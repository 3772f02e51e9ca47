package service

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ordermesh/ordermesh/stacks"
)

// Defaults applied by applyDefaults.
const (
	DefaultGRPCPort    = 8080
	DefaultMetricsPort = 9090
	DefaultPartOf      = "ordermesh"
	DefaultTrustDomain = "cluster.local"
	// DefaultRunAsUser is the non-root UID/GID the containers run as (distroless "nonroot").
	DefaultRunAsUser = 65532
)

// MicroserviceArgs configures one microservice. Zero values take the documented defaults.
type MicroserviceArgs struct {
	// Namespace holds every object of the service. Required.
	Namespace string
	// Image is the stable (v1) image, repository:tag; a pinned tag, not latest. Required.
	Image string
	// GRPCPort is the gRPC (API + health) port. Default 8080.
	GRPCPort int
	// MetricsPort is the HTTP port serving /metrics. Default 9090.
	MetricsPort int
	// Resources are the container's requests and limits. Required (Kubernetes quantities).
	Resources Resources
	// Replicas of the stable Deployment. Default 1.
	Replicas int
	// PDBMinAvailable is the PodDisruptionBudget's minAvailable; below Replicas.
	PDBMinAvailable int
	// HPA, when set, creates an autoscaling/v2 HorizontalPodAutoscaler for the stable Deployment.
	HPA *HPA
	// ZoneSpread spreads pods across topology.kubernetes.io/zone (maxSkew 1). Default none.
	ZoneSpread ZoneSpread
	// Env are plain environment variables, in order.
	Env []EnvVar
	// Secrets are environment variables read from Kubernetes Secrets.
	Secrets []SecretEnv
	// PodAnnotations are added to the pod template (e.g. Vault agent injector annotations).
	PodAnnotations map[string]string
	// Callers may call the gRPC port; everything else is denied (NetworkPolicy + Istio).
	Callers []Caller
	// Methods, when set, restricts callers to these gRPC method paths (/pkg.Service/Method).
	Methods []string
	// Callees are the services this one calls; egress is allowed only to them (plus the
	// platform peers below).
	Callees []Callee
	// Produces and Consumes are the Kafka topics the service writes and reads; recorded as
	// pod annotations (ordermesh.io/produces, ordermesh.io/consumes) for audits and policies.
	Produces []string
	Consumes []string
	// Kafka, when set, allows egress to the Kafka bootstrap/broker pods.
	Kafka *Peer
	// Collector, when set, allows egress to the OpenTelemetry collector.
	Collector *Peer
	// Vault, when set, allows egress to Vault and mounts the service-account token, with
	// which the Vault agent logs in (Kubernetes auth).
	Vault *Peer
	// DNS is the cluster DNS peer. Default: namespace kube-system, pods k8s-app=kube-dns, port 53 (UDP+TCP).
	DNS *Peer
	// Scrapers, when set, may reach the metrics port (Prometheus' namespace and pods).
	Scrapers *Source
	// NeedsKubeAPI mounts the service-account token and allows egress to KubeAPIPorts.
	NeedsKubeAPI bool
	// KubeAPIPorts are the API server ports allowed when NeedsKubeAPI. Default 443, 6443.
	KubeAPIPorts []int
	// Istio, when set, creates the AuthorizationPolicy, DestinationRule and VirtualService and
	// allows egress to istiod.
	Istio *Istio
	// ServiceMonitor, when set, creates a monitoring.coreos.com/v1 ServiceMonitor for /metrics.
	ServiceMonitor *ServiceMonitor
	// Canary, when set, deploys a v2 Deployment and (with Istio) splits traffic by weight.
	Canary *Canary
	// PartOf is the app.kubernetes.io/part-of label. Default "ordermesh".
	PartOf string
}

// ZoneSpread is how strictly pods are spread across zones.
type ZoneSpread string

const (
	// ZoneSpreadNone adds no topology spread constraint.
	ZoneSpreadNone ZoneSpread = ""
	// ZoneSpreadPreferred prefers an even spread (ScheduleAnyway): unlabelled or single-zone
	// clusters still schedule every pod.
	ZoneSpreadPreferred ZoneSpread = "preferred"
	// ZoneSpreadRequired enforces maxSkew 1 (DoNotSchedule); only nodes with a zone label
	// qualify.
	ZoneSpreadRequired ZoneSpread = "required"
)

// Resources are container requests and limits as Kubernetes quantities.
type Resources struct {
	Requests ResourceList
	Limits   ResourceList
}

// ResourceList holds CPU and memory quantities.
type ResourceList struct {
	CPU    string
	Memory string
}

// HPA configures the HorizontalPodAutoscaler.
type HPA struct {
	// MinReplicas is the lower bound; above PDBMinAvailable. Default Replicas.
	MinReplicas int
	// MaxReplicas is the upper bound. Required, >= MinReplicas.
	MaxReplicas int
	// TargetCPUPercent is the average CPU utilisation target. Default 70.
	TargetCPUPercent int
}

// EnvVar is a plain environment variable.
type EnvVar struct{ Name, Value string }

// SecretEnv is an environment variable taken from a Secret key.
type SecretEnv struct {
	// Name is the environment variable.
	Name string
	// SecretName and Key locate the value.
	SecretName string
	Key        string
}

// Caller is a workload allowed to call the service.
type Caller struct {
	// Name identifies the caller in object names and errors (a service name or ingress-gateway).
	Name string
	// Namespace and PodLabels select the caller's pods for the NetworkPolicy.
	Namespace string
	PodLabels map[string]string
	// ServiceAccount is the caller's service account, the Istio principal
	// <trustDomain>/ns/<Namespace>/sa/<ServiceAccount>.
	ServiceAccount string
}

// Callee is a service this one calls over gRPC.
type Callee struct {
	// Name is the callee's app.kubernetes.io/name.
	Name string
	// Namespace of the callee. Default: the service's namespace.
	Namespace string
	// Port is the callee's gRPC port. Default 8080.
	Port int
}

// Peer is a set of pods, selected by namespace and labels, reached on some ports.
type Peer struct {
	// Namespace of the pods. Required.
	Namespace string
	// PodLabels select the pods; empty selects every pod in Namespace.
	PodLabels map[string]string
	// Ports are the TCP ports (DNS: UDP and TCP). Required.
	Ports []int
}

// Source selects pods allowed to connect, by namespace and labels.
type Source struct {
	// Namespace of the pods. Required.
	Namespace string
	// PodLabels select the pods; empty selects every pod in Namespace.
	PodLabels map[string]string
}

// Istio configures the per-service mesh objects.
type Istio struct {
	// IstiodNamespace and IstiodPort are where sidecars fetch their configuration.
	// Default istio-system, 15012.
	IstiodNamespace string
	IstiodPort      int
	// TrustDomain of the service-account principals. Default cluster.local.
	TrustDomain string
	// MaxConnections bounds TCP connections per upstream host. Default 100.
	MaxConnections int
	// HTTP2MaxRequests bounds concurrent requests (gRPC). Default 1000.
	HTTP2MaxRequests int
	// HTTP1MaxPendingRequests bounds queued requests. Default 100.
	HTTP1MaxPendingRequests int
	// Consecutive5xxErrors ejects a host after this many errors in a row. Default 5.
	Consecutive5xxErrors int
	// OutlierInterval, BaseEjectionTime are Istio durations. Default 10s, 30s.
	OutlierInterval  string
	BaseEjectionTime string
	// MaxEjectionPercent caps the share of ejected hosts. Default 50.
	MaxEjectionPercent int
}

// ServiceMonitor configures the Prometheus ServiceMonitor.
type ServiceMonitor struct {
	// Labels on the ServiceMonitor, for the Prometheus serviceMonitorSelector.
	Labels map[string]string
	// Interval is the scrape interval. Default 15s.
	Interval string
}

// Canary configures the v2 Deployment and weighted routing.
type Canary struct {
	// Image of the canary (v2). Required.
	Image string
	// StableWeight and CanaryWeight split requests without the canary header; 0..100, sum 100.
	StableWeight int
	CanaryWeight int
	// Replicas of the canary Deployment. Default 1.
	Replicas int
}

// clone copies the parts applyDefaults writes to, so the caller's args stay untouched.
func (a *MicroserviceArgs) clone() *MicroserviceArgs {
	c := *a
	c.Callees = slices.Clone(a.Callees)
	if a.HPA != nil {
		h := *a.HPA
		c.HPA = &h
	}
	if a.Istio != nil {
		m := *a.Istio
		c.Istio = &m
	}
	if a.ServiceMonitor != nil {
		s := *a.ServiceMonitor
		c.ServiceMonitor = &s
	}
	if a.Canary != nil {
		k := *a.Canary
		c.Canary = &k
	}
	return &c
}

func (a *MicroserviceArgs) applyDefaults() {
	if a.GRPCPort == 0 {
		a.GRPCPort = DefaultGRPCPort
	}
	if a.MetricsPort == 0 {
		a.MetricsPort = DefaultMetricsPort
	}
	if a.Replicas == 0 {
		a.Replicas = 1
	}
	if a.PartOf == "" {
		a.PartOf = DefaultPartOf
	}
	if a.DNS == nil {
		a.DNS = &Peer{Namespace: "kube-system", PodLabels: map[string]string{"k8s-app": "kube-dns"}, Ports: []int{53}}
	}
	if a.NeedsKubeAPI && len(a.KubeAPIPorts) == 0 {
		a.KubeAPIPorts = []int{443, 6443}
	}
	if h := a.HPA; h != nil {
		if h.MinReplicas == 0 {
			h.MinReplicas = a.Replicas
		}
		if h.TargetCPUPercent == 0 {
			h.TargetCPUPercent = 70
		}
	}
	for i := range a.Callees {
		if a.Callees[i].Namespace == "" {
			a.Callees[i].Namespace = a.Namespace
		}
		if a.Callees[i].Port == 0 {
			a.Callees[i].Port = DefaultGRPCPort
		}
	}
	if m := a.Istio; m != nil {
		setDefault(&m.IstiodNamespace, "istio-system")
		setDefaultInt(&m.IstiodPort, 15012)
		setDefault(&m.TrustDomain, DefaultTrustDomain)
		setDefaultInt(&m.MaxConnections, 100)
		setDefaultInt(&m.HTTP2MaxRequests, 1000)
		setDefaultInt(&m.HTTP1MaxPendingRequests, 100)
		setDefaultInt(&m.Consecutive5xxErrors, 5)
		setDefault(&m.OutlierInterval, "10s")
		setDefault(&m.BaseEjectionTime, "30s")
		setDefaultInt(&m.MaxEjectionPercent, 50)
	}
	if s := a.ServiceMonitor; s != nil {
		setDefault(&s.Interval, "15s")
	}
	if c := a.Canary; c != nil && c.Replicas == 0 {
		c.Replicas = 1
	}
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDefaultInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	imageRE    = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	methodRE   = regexp.MustCompile(`^/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*$`)
	durationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h))+$`)
	envRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate returns every problem of the (defaulted) args, each naming the field, the bad
// value and what is allowed.
func (a *MicroserviceArgs) validate(name string) []string {
	var probs []string
	add := func(field string, value any, allowed string) {
		probs = append(probs, fmt.Sprintf("%s = %v: %s", field, fmtValue(value), allowed))
	}
	label := func(field, v string) {
		if len(v) > 63 || !dnsLabelRE.MatchString(v) {
			add(field, v, "must be a DNS-1123 label")
		}
	}
	port := func(field string, p int) {
		if p < 1 || p > 65535 {
			add(field, p, "must be 1..65535")
		}
	}
	image := func(field, v string) {
		switch {
		case strings.HasSuffix(v, ":latest"):
			add(field, v, "must pin a tag, not latest")
		case !imageRE.MatchString(v):
			add(field, v, "must be repository:tag")
		}
	}
	// Deployments are named <name>-v1/-v2 and must stay DNS labels.
	if len(name) > 60 || !dnsLabelRE.MatchString(name) {
		add("name", name, "must be a DNS-1123 label of at most 60 characters")
	}
	label("Namespace", a.Namespace)
	image("Image", a.Image)
	port("GRPCPort", a.GRPCPort)
	port("MetricsPort", a.MetricsPort)
	if a.GRPCPort == a.MetricsPort {
		add("MetricsPort", a.MetricsPort, "must differ from GRPCPort")
	}
	for _, q := range []struct{ field, v string }{
		{"Resources.Requests.CPU", a.Resources.Requests.CPU},
		{"Resources.Requests.Memory", a.Resources.Requests.Memory},
		{"Resources.Limits.CPU", a.Resources.Limits.CPU},
		{"Resources.Limits.Memory", a.Resources.Limits.Memory},
	} {
		if v, err := stacks.ParseQuantity(q.v); err != nil || v.Sign() <= 0 {
			add(q.field, q.v, "must be a positive Kubernetes quantity such as 100m or 128Mi")
		}
	}
	if a.Replicas < 1 {
		add("Replicas", a.Replicas, "must be >= 1")
	}
	if !slices.Contains([]ZoneSpread{ZoneSpreadNone, ZoneSpreadPreferred, ZoneSpreadRequired}, a.ZoneSpread) {
		add("ZoneSpread", string(a.ZoneSpread), `must be "", preferred or required`)
	}
	if a.PDBMinAvailable < 0 || (a.Replicas >= 1 && a.PDBMinAvailable >= a.Replicas) {
		add("PDBMinAvailable", a.PDBMinAvailable, fmt.Sprintf("must be 0..Replicas-1 (%d) so a disruption is possible", a.Replicas-1))
	}
	if h := a.HPA; h != nil {
		if h.MinReplicas < 1 || h.MinReplicas <= a.PDBMinAvailable {
			add("HPA.MinReplicas", h.MinReplicas, fmt.Sprintf("must be >= 1 and >= PDBMinAvailable+1 (%d)", a.PDBMinAvailable+1))
		}
		if h.MaxReplicas < h.MinReplicas {
			add("HPA.MaxReplicas", h.MaxReplicas, fmt.Sprintf("must be >= HPA.MinReplicas (%d)", h.MinReplicas))
		}
		if h.TargetCPUPercent < 1 || h.TargetCPUPercent > 100 {
			add("HPA.TargetCPUPercent", h.TargetCPUPercent, "must be 1..100")
		}
	}
	for i, e := range a.Env {
		if !envRE.MatchString(e.Name) {
			add(fmt.Sprintf("Env[%d].Name", i), e.Name, "must be an environment variable name")
		}
	}
	for i, s := range a.Secrets {
		if !envRE.MatchString(s.Name) {
			add(fmt.Sprintf("Secrets[%d].Name", i), s.Name, "must be an environment variable name")
		}
		if s.SecretName == "" || s.Key == "" {
			add(fmt.Sprintf("Secrets[%d]", i), s.SecretName+"/"+s.Key, "SecretName and Key must be set")
		}
	}
	seen := map[string]bool{}
	for i, c := range a.Callers {
		f := fmt.Sprintf("Callers[%d]", i)
		label(f+".Name", c.Name)
		label(f+".Namespace", c.Namespace)
		label(f+".ServiceAccount", c.ServiceAccount)
		if seen[c.Name] {
			add(f+".Name", c.Name, "must be unique")
		}
		seen[c.Name] = true
	}
	for i, m := range a.Methods {
		if !methodRE.MatchString(m) {
			add(fmt.Sprintf("Methods[%d]", i), m, "must be a gRPC method path /package.Service/Method")
		}
	}
	if len(a.Methods) > 0 && len(a.Callers) == 0 {
		add("Methods", a.Methods, "need at least one caller")
	}
	for i, c := range a.Callees {
		f := fmt.Sprintf("Callees[%d]", i)
		label(f+".Name", c.Name)
		label(f+".Namespace", c.Namespace)
		port(f+".Port", c.Port)
	}
	peers := []struct {
		field string
		p     *Peer
	}{{"Kafka", a.Kafka}, {"Collector", a.Collector}, {"Vault", a.Vault}, {"DNS", a.DNS}}
	for _, pe := range peers {
		if pe.p == nil {
			continue
		}
		label(pe.field+".Namespace", pe.p.Namespace)
		if len(pe.p.Ports) == 0 {
			add(pe.field+".Ports", pe.p.Ports, "must list at least one port")
		}
		for i, p := range pe.p.Ports {
			port(fmt.Sprintf("%s.Ports[%d]", pe.field, i), p)
		}
	}
	if a.Scrapers != nil {
		label("Scrapers.Namespace", a.Scrapers.Namespace)
	}
	for i, p := range a.KubeAPIPorts {
		port(fmt.Sprintf("KubeAPIPorts[%d]", i), p)
	}
	if m := a.Istio; m != nil {
		label("Istio.IstiodNamespace", m.IstiodNamespace)
		port("Istio.IstiodPort", m.IstiodPort)
		if strings.ContainsAny(m.TrustDomain, "/ ") {
			add("Istio.TrustDomain", m.TrustDomain, "must be a trust domain such as cluster.local")
		}
		for _, n := range []struct {
			field string
			v     int
		}{
			{"Istio.MaxConnections", m.MaxConnections}, {"Istio.HTTP2MaxRequests", m.HTTP2MaxRequests},
			{"Istio.HTTP1MaxPendingRequests", m.HTTP1MaxPendingRequests}, {"Istio.Consecutive5xxErrors", m.Consecutive5xxErrors},
		} {
			if n.v < 1 {
				add(n.field, n.v, "must be >= 1")
			}
		}
		for _, d := range []struct{ field, v string }{{"Istio.OutlierInterval", m.OutlierInterval}, {"Istio.BaseEjectionTime", m.BaseEjectionTime}} {
			if !durationRE.MatchString(d.v) {
				add(d.field, d.v, "must be a duration such as 10s or 1m")
			}
		}
		if m.MaxEjectionPercent < 0 || m.MaxEjectionPercent > 100 {
			add("Istio.MaxEjectionPercent", m.MaxEjectionPercent, "must be 0..100")
		}
	}
	if s := a.ServiceMonitor; s != nil && !durationRE.MatchString(s.Interval) {
		add("ServiceMonitor.Interval", s.Interval, "must be a duration such as 15s")
	}
	if c := a.Canary; c != nil {
		image("Canary.Image", c.Image)
		for _, w := range []struct {
			field string
			v     int
		}{{"Canary.StableWeight", c.StableWeight}, {"Canary.CanaryWeight", c.CanaryWeight}} {
			if w.v < 0 || w.v > 100 {
				add(w.field, w.v, "must be 0..100")
			}
		}
		if c.StableWeight+c.CanaryWeight != 100 {
			add("Canary.StableWeight+CanaryWeight", c.StableWeight+c.CanaryWeight, "must sum to 100")
		}
		if c.Replicas < 1 {
			add("Canary.Replicas", c.Replicas, "must be >= 1")
		}
	}
	return probs
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}

// principal is the Istio principal of a caller.
func principal(trustDomain string, c Caller) string {
	return fmt.Sprintf("%s/ns/%s/sa/%s", trustDomain, c.Namespace, c.ServiceAccount)
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
