// Package versions pins, in one place, every Helm chart (name, repository,
// version) and every custom resource API version the ordermesh components
// create. Bumping an operator is a change to this file and its tests only.
package versions

// Chart pins one upstream Helm chart.
type Chart struct {
	// Name is the chart name as published in Repo. For OCI repositories the
	// chart is addressed by Repo alone and Name is informational.
	Name string
	// Repo is an https Helm repository URL or an oci:// chart reference.
	Repo string
	// Version is the exact chart version; ranges are not allowed.
	Version string
	// AppVersion is the version of the software the chart ships, for docs
	// and image tags where a chart needs one.
	AppVersion string
}

// IsOCI reports whether the chart is pulled from an OCI registry, in which
// case Repo is the full chart reference and must be passed as the chart.
func (c Chart) IsOCI() bool {
	return len(c.Repo) > 6 && c.Repo[:6] == "oci://"
}

// Operator and platform charts. Verified against DESIGN.md §9 (2026-09).
var (
	// StrimziOperator installs the Strimzi cluster operator and its CRDs.
	StrimziOperator = Chart{
		Name:       "strimzi-kafka-operator",
		Repo:       "oci://quay.io/strimzi-helm/strimzi-kafka-operator",
		Version:    "1.2.0",
		AppVersion: "1.2.0",
	}
	// IstioBase installs Istio's CRDs and cluster roles.
	IstioBase = Chart{
		Name:       "base",
		Repo:       "https://istio-release.storage.googleapis.com/charts",
		Version:    "1.30.4",
		AppVersion: "1.30.4",
	}
	// Istiod installs the Istio control plane.
	Istiod = Chart{
		Name:       "istiod",
		Repo:       "https://istio-release.storage.googleapis.com/charts",
		Version:    "1.30.4",
		AppVersion: "1.30.4",
	}
	// IstioGateway installs an Envoy ingress gateway deployment.
	IstioGateway = Chart{
		Name:       "gateway",
		Repo:       "https://istio-release.storage.googleapis.com/charts",
		Version:    "1.30.4",
		AppVersion: "1.30.4",
	}
	// KubePrometheusStack installs the Prometheus operator, Prometheus,
	// Alertmanager and Grafana.
	KubePrometheusStack = Chart{
		Name:       "kube-prometheus-stack",
		Repo:       "https://prometheus-community.github.io/helm-charts",
		Version:    "91.5.0",
		AppVersion: "v0.93.0",
	}
	// OTelCollector installs an OpenTelemetry Collector.
	OTelCollector = Chart{
		Name:       "opentelemetry-collector",
		Repo:       "https://open-telemetry.github.io/opentelemetry-helm-charts",
		Version:    "0.170.0",
		AppVersion: "0.158.0",
	}
	// Jaeger installs Jaeger v2 (the tracing backend).
	Jaeger = Chart{
		Name:       "jaeger",
		Repo:       "https://jaegertracing.github.io/helm-charts",
		Version:    "4.11.1",
		AppVersion: "2.19.0",
	}
	// Tempo installs Grafana Tempo, the alternative tracing backend.
	Tempo = Chart{
		Name:       "tempo",
		Repo:       "https://grafana-community.github.io/helm-charts",
		Version:    "2.2.4",
		AppVersion: "2.10.0",
	}
	// Vault installs HashiCorp Vault and its agent injector.
	Vault = Chart{
		Name:       "vault",
		Repo:       "https://helm.releases.hashicorp.com",
		Version:    "0.34.1",
		AppVersion: "2.0.0",
	}
	// OpenBao installs OpenBao, the MPL-2.0 fork of Vault.
	OpenBao = Chart{
		Name:       "openbao",
		Repo:       "https://openbao.github.io/openbao-helm",
		Version:    "0.29.4",
		AppVersion: "2.6.0",
	}
	// Flagger installs the Flagger progressive delivery operator.
	Flagger = Chart{
		Name:       "flagger",
		Repo:       "https://flagger.app",
		Version:    "1.44.0",
		AppVersion: "1.44.0",
	}
	// CloudNativePG installs the CloudNativePG PostgreSQL operator.
	CloudNativePG = Chart{
		Name:       "cloudnative-pg",
		Repo:       "https://cloudnative-pg.github.io/charts",
		Version:    "0.29.0",
		AppVersion: "1.30.0",
	}
)

// APIVersion identifies the group/version and kind of a custom resource.
type APIVersion struct {
	APIVersion string
	Kind       string
}

// Custom resource API versions served by the pinned operators (and present
// in the upstream CRDs the end-to-end test applies).
var (
	StrimziKafka         = APIVersion{"kafka.strimzi.io/v1", "Kafka"}
	StrimziKafkaNodePool = APIVersion{"kafka.strimzi.io/v1", "KafkaNodePool"}
	StrimziKafkaTopic    = APIVersion{"kafka.strimzi.io/v1", "KafkaTopic"}
	StrimziKafkaUser     = APIVersion{"kafka.strimzi.io/v1", "KafkaUser"}

	IstioPeerAuthentication    = APIVersion{"security.istio.io/v1", "PeerAuthentication"}
	IstioAuthorizationPolicy   = APIVersion{"security.istio.io/v1", "AuthorizationPolicy"}
	IstioRequestAuthentication = APIVersion{"security.istio.io/v1", "RequestAuthentication"}
	IstioTelemetry             = APIVersion{"telemetry.istio.io/v1", "Telemetry"}
	IstioGatewayResource       = APIVersion{"networking.istio.io/v1", "Gateway"}
	IstioVirtualService        = APIVersion{"networking.istio.io/v1", "VirtualService"}
	IstioDestinationRule       = APIVersion{"networking.istio.io/v1", "DestinationRule"}
	PrometheusServiceMonitor   = APIVersion{"monitoring.coreos.com/v1", "ServiceMonitor"}
	PrometheusPodMonitor       = APIVersion{"monitoring.coreos.com/v1", "PodMonitor"}
	PrometheusRule             = APIVersion{"monitoring.coreos.com/v1", "PrometheusRule"}
	FlaggerCanary              = APIVersion{"flagger.app/v1beta1", "Canary"}
	CloudNativePGCluster       = APIVersion{"postgresql.cnpg.io/v1", "Cluster"}
)

// Charts lists every pinned chart, for tests and documentation.
func Charts() []Chart {
	return []Chart{
		StrimziOperator, IstioBase, Istiod, IstioGateway, KubePrometheusStack,
		OTelCollector, Jaeger, Tempo, Vault, OpenBao, Flagger, CloudNativePG,
	}
}

// APIVersions lists every pinned custom resource API version.
func APIVersions() []APIVersion {
	return []APIVersion{
		StrimziKafka, StrimziKafkaNodePool, StrimziKafkaTopic, StrimziKafkaUser,
		IstioPeerAuthentication, IstioAuthorizationPolicy, IstioRequestAuthentication, IstioTelemetry,
		IstioGatewayResource, IstioVirtualService, IstioDestinationRule,
		PrometheusServiceMonitor, PrometheusPodMonitor, PrometheusRule,
		FlaggerCanary, CloudNativePGCluster,
	}
}
