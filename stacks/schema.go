// Package stacks is the typed configuration of ordermesh: one Go struct tree
// that is the schema of every setting, per-profile defaults (dev, staging,
// prod), loading from Pulumi config and validation that reports every problem
// at once.
//
// Pulumi config layout: `ordermesh:profile` selects the profile; each section
// is one structured key (`ordermesh:kafka`, `ordermesh:services`, ...) whose
// object overrides the profile defaults field by field. Secrets are separate
// top-level keys (see SecretKeys) and are never part of Config.
//
// The doc comments on the fields below are the source of docs/CONFIGURATION.md
// (regenerate with `go generate ./stacks`).
package stacks

//go:generate env ORDERMESH_UPDATE_DOCS=1 go test -run TestConfigurationDocIsCurrent .

// Profile names an environment profile.
type Profile string

// The environment profiles. They differ in scale and safety, not in shape.
const (
	Dev     Profile = "dev"
	Staging Profile = "staging"
	Prod    Profile = "prod"
)

// Profiles lists the known profiles in documentation order.
var Profiles = []Profile{Dev, Staging, Prod}

// Config is the whole ordermesh configuration of one stack.
type Config struct {
	// Profile is the environment profile whose defaults apply: dev, staging or prod.
	Profile Profile `json:"profile"`
	// Cluster selects where ordermesh deploys to.
	Cluster Cluster `json:"cluster"`
	// Operators controls installation of the operators (Strimzi, Istio, Vault, Prometheus).
	Operators Operators `json:"operators"`
	// Namespaces names the Kubernetes namespaces ordermesh uses.
	Namespaces Namespaces `json:"namespaces"`
	// Kafka sizes the Strimzi Kafka cluster and its topics.
	Kafka Kafka `json:"kafka"`
	// Mesh configures Istio.
	Mesh Mesh `json:"mesh"`
	// Vault configures the secret store.
	Vault Vault `json:"vault"`
	// Observability configures metrics, tracing and SLO alerting.
	Observability Observability `json:"observability"`
	// Services holds the order system's services by name; overrides may only
	// name the reference services (see ServiceNames).
	Services map[string]Service `json:"services"`
}

// Cluster selects where ordermesh deploys to.
type Cluster struct {
	// Mode is how ordermesh gets a cluster: "local" runs a local control plane
	// (kube-apiserver + kwok) from LocalStateDir; "existing" uses the
	// `ordermesh:kubeconfig` secret, or the ambient kubeconfig, with Context;
	// "vps" installs k3s on Hosts over SSH.
	Mode string `json:"mode"`
	// Context is the kubeconfig context used in existing mode; empty means the current context.
	Context string `json:"context"`
	// LocalStateDir is where the local control plane keeps its state and kubeconfig.
	// A relative path is relative to the project root (the directory with Pulumi.yaml), not to infra/.
	LocalStateDir string `json:"localStateDir"`
	// RenderDir, when set, renders the manifests into this directory instead of applying them
	// (relative to the project root).
	RenderDir string `json:"renderDir"`
	// Hosts are the VPS hosts of mode "vps", by node name: ordermesh installs k3s on them over
	// SSH (with the `ordermesh:sshPrivateKey` secret) inside `pulumi up`. At least one is a server.
	Hosts map[string]Host `json:"hosts"`
	// K3sVersion is the k3s release installed on the hosts (mode vps); empty means the release
	// pinned in components/k3s.
	K3sVersion string `json:"k3sVersion"`
	// Firewall applies the nftables baseline on the hosts (mode vps): only 22, 6443, 80 and 443
	// open to the world, node-to-node traffic between the hosts.
	Firewall bool `json:"firewall"`
}

// Host is one VPS host of cluster mode vps.
type Host struct {
	// Address is the public address used for SSH and, on the first server, the API server.
	Address string `json:"address"`
	// PrivateAddress is the address the other hosts reach this one on; empty means Address.
	PrivateAddress string `json:"privateAddress"`
	// Port is the SSH port; 0 means 22.
	Port int `json:"port"`
	// User is the SSH user; empty means root.
	User string `json:"user"`
	// HostKey is the pinned SSH host public key ("ssh-ed25519 AAAA..."); a different key refuses the connection.
	HostKey string `json:"hostKey"`
	// Role is server (k3s control plane) or agent (worker).
	Role string `json:"role"`
}

// Operators controls installation of the operators.
type Operators struct {
	// Install installs the operators from their pinned Helm charts at `pulumi up` time.
	// Ignored (charts are skipped) when CRDsDir is set.
	Install bool `json:"install"`
	// CRDsDir, when set, is an air-gapped CRD directory: its CRDs are applied and the chart
	// installs are skipped. Relative to the project root. When unset, the ORDERMESH_CRDS_DIR
	// environment variable is used, and in local cluster mode `../shared/crds` when it exists.
	CRDsDir string `json:"crdsDir"`
}

// Namespaces names the Kubernetes namespaces ordermesh uses.
type Namespaces struct {
	// Apps is the namespace of the order services.
	Apps string `json:"apps"`
	// Kafka is the namespace of the Strimzi operator and the Kafka cluster.
	Kafka string `json:"kafka"`
	// Mesh is the Istio control-plane namespace.
	Mesh string `json:"mesh"`
	// Ingress is the namespace of the Istio ingress gateway.
	Ingress string `json:"ingress"`
	// Vault is the namespace of Vault (or OpenBao).
	Vault string `json:"vault"`
	// Observability is the namespace of Prometheus, the tracing backend and the OTel collector.
	Observability string `json:"observability"`
}

// Kafka sizes the Strimzi Kafka cluster (KRaft, node pools) and its topics.
type Kafka struct {
	// ClusterName is the name of the Strimzi Kafka resource.
	ClusterName string `json:"clusterName"`
	// DualRole runs one node pool whose nodes are both controllers and brokers (dev);
	// Controllers must then be 0.
	DualRole bool `json:"dualRole"`
	// Controllers is the number of dedicated KRaft controller nodes (odd, for a quorum).
	Controllers int `json:"controllers"`
	// Brokers is the number of broker nodes.
	Brokers int `json:"brokers"`
	// Replication is the replication factor of every topic (at most Brokers).
	Replication int `json:"replication"`
	// MinInsyncReplicas is `min.insync.replicas` of every topic (at most Replication).
	MinInsyncReplicas int `json:"minInsyncReplicas"`
	// Partitions is the partition count of every domain topic.
	Partitions int `json:"partitions"`
	// RetentionHours is the retention of the domain topics, in hours.
	RetentionHours int `json:"retentionHours"`
	// DLQRetentionHours is the retention of the dead-letter topics, in hours.
	DLQRetentionHours int `json:"dlqRetentionHours"`
	// StorageSize is the persistent volume size of each broker (a Kubernetes quantity).
	StorageSize string `json:"storageSize"`
	// Port is the plain bootstrap/broker listener port the services connect to.
	Port int `json:"port"`
	// Topics are the order domain topics; each has a `<topic>.dlq` dead-letter partner.
	Topics []string `json:"topics"`
	// Resources are the requests and limits of each broker.
	Resources Resources `json:"resources"`
}

// Mesh configures Istio.
type Mesh struct {
	// Enabled deploys Istio and the per-service mesh policies (AuthorizationPolicy,
	// DestinationRule, VirtualService).
	Enabled bool `json:"enabled"`
	// MTLSMode is the mesh-wide PeerAuthentication mode: STRICT or PERMISSIVE.
	MTLSMode string `json:"mtlsMode"`
	// TracingSampling is the percentage of requests traced, 0..100.
	TracingSampling float64 `json:"tracingSampling"`
	// IngressHost is the external host name of the order API on the ingress gateway.
	IngressHost string `json:"ingressHost"`
	// IngressServiceType is the Kubernetes Service type of the ingress gateway:
	// ClusterIP, NodePort or LoadBalancer.
	IngressServiceType string `json:"ingressServiceType"`
	// JWT configures end-user authentication at the ingress gateway; empty issuer disables it.
	JWT JWT `json:"jwt"`
}

// JWT configures a RequestAuthentication at the ingress gateway.
type JWT struct {
	// Issuer is the expected `iss` claim; empty disables JWT authentication.
	Issuer string `json:"issuer"`
	// JWKSURI is the https URL of the issuer's JSON Web Key Set.
	JWKSURI string `json:"jwksUri"`
}

// Vault configures the secret store.
type Vault struct {
	// Flavor is the implementation: vault (HashiCorp, BUSL) or openbao (MPL-2.0).
	Flavor string `json:"flavor"`
	// HA runs Vault in HA mode with integrated raft storage; requires Replicas >= 3 (odd).
	HA bool `json:"ha"`
	// Replicas is the number of Vault server pods (1 without HA).
	Replicas int `json:"replicas"`
	// Injector deploys the agent injector that renders secrets into service pods.
	Injector bool `json:"injector"`
	// StorageSize is the raft data volume size per replica (a Kubernetes quantity).
	StorageSize string `json:"storageSize"`
	// Port is the Vault API port the services connect to.
	Port int `json:"port"`
}

// Observability configures metrics, tracing and SLO alerting.
type Observability struct {
	// Enabled deploys the Prometheus stack, the tracing backend, the OTel collector,
	// ServiceMonitors and the SLO rules.
	Enabled bool `json:"enabled"`
	// Retention is how long Prometheus keeps metrics, a Prometheus duration such as 15d.
	Retention string `json:"retention"`
	// TracingBackend stores traces: jaeger or tempo.
	TracingBackend string `json:"tracingBackend"`
	// CollectorPort is the OTLP gRPC port of the OTel collector the services export to.
	CollectorPort int `json:"collectorPort"`
	// SLO holds the thresholds of the SLO alert rules.
	SLO SLO `json:"slo"`
}

// SLO holds the thresholds of the SLO alert rules.
type SLO struct {
	// SagaSuccessRatio is the minimum ratio of order sagas that complete, 0..1.
	SagaSuccessRatio float64 `json:"sagaSuccessRatio"`
	// OrderAPIP99Ms is the maximum p99 latency of the order gRPC API, in milliseconds.
	OrderAPIP99Ms int `json:"orderApiP99Ms"`
	// ConsumerLagMax is the maximum consumer-group lag, in messages, before alerting.
	ConsumerLagMax int `json:"consumerLagMax"`
	// DeadLetterRatePerMin is the maximum rate of messages sent to dead-letter topics, per minute.
	DeadLetterRatePerMin float64 `json:"deadLetterRatePerMin"`
}

// Service configures one microservice of the order system.
type Service struct {
	// Image is the container image of the stable (v1) version.
	Image Image `json:"image"`
	// GRPCPort is the gRPC port (API and gRPC health).
	GRPCPort int `json:"grpcPort"`
	// MetricsPort is the HTTP port serving /metrics.
	MetricsPort int `json:"metricsPort"`
	// Resources are the container's requests and limits.
	Resources Resources `json:"resources"`
	// Replicas is the replica count of the stable Deployment (and the HPA's starting point).
	Replicas int `json:"replicas"`
	// PDB configures the PodDisruptionBudget.
	PDB PDB `json:"pdb"`
	// HPA configures the HorizontalPodAutoscaler.
	HPA HPA `json:"hpa"`
	// Callers are the services (or `ingress-gateway`) allowed to call this service's gRPC port;
	// NetworkPolicies and AuthorizationPolicies are derived from them.
	Callers []string `json:"callers"`
	// Methods, when set, restricts callers to these gRPC method paths (`/pkg.Service/Method`).
	Methods []string `json:"methods"`
	// Produces are the topics this service writes to.
	Produces []string `json:"produces"`
	// Consumes are the topics this service reads (it may also write their `.dlq` partners).
	Consumes []string `json:"consumes"`
	// Canary configures a canary (v2) Deployment and weighted routing.
	Canary Canary `json:"canary"`
	// ZoneSpread spreads the pods across zones (topology.kubernetes.io/zone, maxSkew 1):
	// none, preferred (ScheduleAnyway) or required (DoNotSchedule; nodes need zone labels).
	ZoneSpread string `json:"zoneSpread"`
	// NeedsVault lets the service use Vault: egress to Vault and a mounted service-account
	// token for the Vault agent's Kubernetes-auth login.
	NeedsVault bool `json:"needsVault"`
	// NeedsKubeAPI mounts a service-account token and allows egress to the Kubernetes API.
	NeedsKubeAPI bool `json:"needsKubeAPI"`
	// Env are extra environment variables for the container.
	Env map[string]string `json:"env"`
}

// Image is a container image reference.
type Image struct {
	// Repository is the image repository, without tag.
	Repository string `json:"repository"`
	// Tag is the pinned image tag; `latest` is not allowed.
	Tag string `json:"tag"`
}

// Ref returns repository:tag.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// Resources are container requests and limits.
type Resources struct {
	// Requests are the guaranteed resources.
	Requests ResourceList `json:"requests"`
	// Limits are the maximum resources (each at least the request).
	Limits ResourceList `json:"limits"`
}

// ResourceList holds CPU and memory as Kubernetes quantities.
type ResourceList struct {
	// CPU is a Kubernetes quantity such as 100m or 1.
	CPU string `json:"cpu"`
	// Memory is a Kubernetes quantity such as 128Mi.
	Memory string `json:"memory"`
}

// PDB configures a PodDisruptionBudget.
type PDB struct {
	// MinAvailable is the number of pods that must stay up; below Replicas so a disruption is possible.
	MinAvailable int `json:"minAvailable"`
}

// HPA configures a HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation).
type HPA struct {
	// Enabled creates the HorizontalPodAutoscaler.
	Enabled bool `json:"enabled"`
	// MinReplicas is the lower bound (above the PDB minimum).
	MinReplicas int `json:"minReplicas"`
	// MaxReplicas is the upper bound.
	MaxReplicas int `json:"maxReplicas"`
	// TargetCPUPercent is the average CPU utilisation target, 1..100.
	TargetCPUPercent int `json:"targetCPUPercent"`
}

// Canary configures a canary Deployment (version v2) and weighted routing.
type Canary struct {
	// Enabled deploys the canary and routes Weight percent of requests (and all requests
	// with header `canary: "true"`) to it.
	Enabled bool `json:"enabled"`
	// Tag is the canary's image tag (same repository as Image); set it to the candidate version.
	Tag string `json:"tag"`
	// Weight is the percentage of requests routed to the canary, 0..100; the stable version gets the rest.
	Weight int `json:"weight"`
	// Replicas is the canary Deployment's replica count.
	Replicas int `json:"replicas"`
}
