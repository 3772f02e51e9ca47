package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ordermesh/ordermesh/stacks"
)

// Platform describes the platform workloads a service's policies refer to. Zero fields take
// defaults derived from the stack configuration (see ArgsFromConfig).
type Platform struct {
	// IngressGateway is the caller named stacks.IngressGateway. Default: namespace
	// cfg.Namespaces.Ingress, service account istio-ingressgateway, pods istio=ingressgateway.
	IngressGateway *Caller
	// Kafka is the broker peer. Default: namespace cfg.Namespaces.Kafka, pods
	// strimzi.io/cluster=<cfg.Kafka.ClusterName>, port cfg.Kafka.Port.
	Kafka *Peer
	// Collector is the OTel collector. Default: every pod of cfg.Namespaces.Observability on
	// cfg.Observability.CollectorPort (when observability is enabled).
	Collector *Peer
	// Vault is the Vault peer for services with needsVault. Default: every pod of
	// cfg.Namespaces.Vault on cfg.Vault.Port.
	Vault *Peer
	// Scrapers may reach /metrics. Default: every pod of cfg.Namespaces.Observability.
	Scrapers *Source
	// ServiceMonitorLabels label the ServiceMonitors for Prometheus' selector.
	ServiceMonitorLabels map[string]string
	// PodAnnotations are extra pod annotations per service (e.g. Vault agent injection).
	PodAnnotations map[string]map[string]string
	// Env are extra environment variables per service, after the configured ones.
	Env map[string][]EnvVar
}

// zoneSpread maps the config values (validated by stacks) to ZoneSpread.
var zoneSpread = map[string]ZoneSpread{"none": ZoneSpreadNone, "preferred": ZoneSpreadPreferred, "required": ZoneSpreadRequired}

// ArgsFromConfig maps the stack configuration of service name to MicroserviceArgs: the call
// graph (callers, and callees as the inverse of every service's callers), profile sizes,
// canary weights, mesh and observability toggles.
func ArgsFromConfig(cfg *stacks.Config, name string, p Platform) (*MicroserviceArgs, error) {
	s, ok := cfg.Services[name]
	if !ok {
		return nil, fmt.Errorf("service %q: not in the configuration (known: %s)", name, strings.Join(cfg.SortedServiceNames(), ", "))
	}
	ns := cfg.Namespaces
	gw := p.IngressGateway
	if gw == nil {
		gw = &Caller{Namespace: ns.Ingress, ServiceAccount: "istio-ingressgateway", PodLabels: map[string]string{"istio": "ingressgateway"}}
	}

	a := &MicroserviceArgs{
		Namespace:   ns.Apps,
		Image:       s.Image.Ref(),
		GRPCPort:    s.GRPCPort,
		MetricsPort: s.MetricsPort,
		Resources: Resources{
			Requests: ResourceList{CPU: s.Resources.Requests.CPU, Memory: s.Resources.Requests.Memory},
			Limits:   ResourceList{CPU: s.Resources.Limits.CPU, Memory: s.Resources.Limits.Memory},
		},
		Replicas:        s.Replicas,
		PDBMinAvailable: s.PDB.MinAvailable,
		ZoneSpread:      zoneSpread[s.ZoneSpread],
		Methods:         slices.Clone(s.Methods),
		Produces:        slices.Clone(s.Produces),
		Consumes:        slices.Clone(s.Consumes),
		NeedsKubeAPI:    s.NeedsKubeAPI,
		PodAnnotations:  p.PodAnnotations[name],
	}
	if s.HPA.Enabled {
		a.HPA = &HPA{MinReplicas: s.HPA.MinReplicas, MaxReplicas: s.HPA.MaxReplicas, TargetCPUPercent: s.HPA.TargetCPUPercent}
	}
	for _, k := range sortedKeys(s.Env) {
		a.Env = append(a.Env, EnvVar{Name: k, Value: s.Env[k]})
	}
	a.Env = append(a.Env, p.Env[name]...)

	for _, c := range s.Callers {
		if c == stacks.IngressGateway {
			g := *gw
			g.Name = stacks.IngressGateway
			a.Callers = append(a.Callers, g)
			continue
		}
		a.Callers = append(a.Callers, Caller{Name: c, Namespace: ns.Apps, ServiceAccount: c, PodLabels: map[string]string{NameLabel: c}})
	}
	for _, other := range cfg.SortedServiceNames() {
		if slices.Contains(cfg.Services[other].Callers, name) {
			a.Callees = append(a.Callees, Callee{Name: other, Namespace: ns.Apps, Port: cfg.Services[other].GRPCPort})
		}
	}

	if len(s.Produces)+len(s.Consumes) > 0 {
		a.Kafka = p.Kafka
		if a.Kafka == nil {
			a.Kafka = &Peer{Namespace: ns.Kafka, PodLabels: map[string]string{"strimzi.io/cluster": cfg.Kafka.ClusterName}, Ports: []int{cfg.Kafka.Port}}
		}
	}
	if s.NeedsVault {
		a.Vault = p.Vault
		if a.Vault == nil {
			a.Vault = &Peer{Namespace: ns.Vault, Ports: []int{cfg.Vault.Port}}
		}
	}
	if cfg.Observability.Enabled {
		a.Collector = p.Collector
		if a.Collector == nil {
			a.Collector = &Peer{Namespace: ns.Observability, Ports: []int{cfg.Observability.CollectorPort}}
		}
		a.Scrapers = p.Scrapers
		if a.Scrapers == nil {
			a.Scrapers = &Source{Namespace: ns.Observability}
		}
		a.ServiceMonitor = &ServiceMonitor{Labels: p.ServiceMonitorLabels}
	}
	if cfg.Mesh.Enabled {
		a.Istio = &Istio{IstiodNamespace: ns.Mesh}
		if s.Canary.Enabled {
			a.Canary = &Canary{
				Image:        s.Image.Repository + ":" + s.Canary.Tag,
				StableWeight: 100 - s.Canary.Weight,
				CanaryWeight: s.Canary.Weight,
				Replicas:     s.Canary.Replicas,
			}
		}
	} else if s.Canary.Enabled {
		// Without the mesh there is no weighted routing; the Service would split by pod count.
		return nil, fmt.Errorf("service %q: ordermesh:services.%s.canary.enabled needs ordermesh:mesh.enabled", name, name)
	}
	return a, nil
}
