package service

// Typed specs of the custom resources the component creates. Field names follow the
// upstream CRD schemas (Istio 1.30 security.istio.io/v1 and networking.istio.io/v1,
// prometheus-operator monitoring.coreos.com/v1); tests check them against ../shared/crds.

// AuthorizationPolicySpec is security.istio.io/v1 AuthorizationPolicy.spec.
type AuthorizationPolicySpec struct {
	Selector *WorkloadSelector `json:"selector,omitempty"`
	Action   string            `json:"action,omitempty"`
	Rules    []AuthzRule       `json:"rules,omitempty"`
}

// WorkloadSelector selects pods by labels.
type WorkloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// AuthzRule matches requests from sources to operations.
type AuthzRule struct {
	From []AuthzFrom `json:"from,omitempty"`
	To   []AuthzTo   `json:"to,omitempty"`
}

// AuthzFrom wraps a source.
type AuthzFrom struct {
	Source AuthzSource `json:"source"`
}

// AuthzSource identifies peers.
type AuthzSource struct {
	Principals []string `json:"principals,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// AuthzTo wraps an operation.
type AuthzTo struct {
	Operation AuthzOperation `json:"operation"`
}

// AuthzOperation matches request attributes.
type AuthzOperation struct {
	Ports   []string `json:"ports,omitempty"`
	Paths   []string `json:"paths,omitempty"`
	Methods []string `json:"methods,omitempty"`
}

// DestinationRuleSpec is networking.istio.io/v1 DestinationRule.spec.
type DestinationRuleSpec struct {
	Host          string        `json:"host"`
	TrafficPolicy TrafficPolicy `json:"trafficPolicy"`
	Subsets       []Subset      `json:"subsets,omitempty"`
}

// TrafficPolicy holds connection-pool, outlier-detection and TLS settings.
type TrafficPolicy struct {
	ConnectionPool   ConnectionPool   `json:"connectionPool"`
	OutlierDetection OutlierDetection `json:"outlierDetection"`
	TLS              *ClientTLS       `json:"tls,omitempty"`
}

// ConnectionPool limits connections and requests per upstream host.
type ConnectionPool struct {
	TCP  TCPPool  `json:"tcp"`
	HTTP HTTPPool `json:"http"`
}

// TCPPool limits TCP connections.
type TCPPool struct {
	MaxConnections int    `json:"maxConnections"`
	ConnectTimeout string `json:"connectTimeout,omitempty"`
}

// HTTPPool limits HTTP/gRPC requests.
type HTTPPool struct {
	HTTP1MaxPendingRequests int `json:"http1MaxPendingRequests"`
	HTTP2MaxRequests        int `json:"http2MaxRequests"`
}

// OutlierDetection ejects failing hosts.
type OutlierDetection struct {
	Consecutive5xxErrors int    `json:"consecutive5xxErrors"`
	Interval             string `json:"interval"`
	BaseEjectionTime     string `json:"baseEjectionTime"`
	MaxEjectionPercent   int    `json:"maxEjectionPercent"`
}

// ClientTLS sets the TLS mode towards the upstream.
type ClientTLS struct {
	Mode string `json:"mode"`
}

// Subset is a named version of the service.
type Subset struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// VirtualServiceSpec is networking.istio.io/v1 VirtualService.spec.
type VirtualServiceSpec struct {
	Hosts []string    `json:"hosts"`
	HTTP  []HTTPRoute `json:"http"`
}

// HTTPRoute is one routing rule.
type HTTPRoute struct {
	Name  string             `json:"name,omitempty"`
	Match []HTTPMatch        `json:"match,omitempty"`
	Route []RouteDestination `json:"route"`
}

// HTTPMatch matches requests by header.
type HTTPMatch struct {
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// StringMatch matches a value exactly.
type StringMatch struct {
	Exact string `json:"exact"`
}

// RouteDestination sends a share of requests to a subset.
type RouteDestination struct {
	Destination Destination `json:"destination"`
	Weight      *int        `json:"weight,omitempty"`
}

// Destination is a host, subset and port.
type Destination struct {
	Host   string        `json:"host"`
	Subset string        `json:"subset,omitempty"`
	Port   *PortSelector `json:"port,omitempty"`
}

// PortSelector selects a service port.
type PortSelector struct {
	Number int `json:"number"`
}

// ServiceMonitorSpec is monitoring.coreos.com/v1 ServiceMonitor.spec.
type ServiceMonitorSpec struct {
	Selector          LabelSelector     `json:"selector"`
	NamespaceSelector NamespaceSelector `json:"namespaceSelector"`
	Endpoints         []Endpoint        `json:"endpoints"`
}

// LabelSelector selects objects by labels.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// NamespaceSelector lists namespaces.
type NamespaceSelector struct {
	MatchNames []string `json:"matchNames"`
}

// Endpoint is one scrape endpoint.
type Endpoint struct {
	Port     string `json:"port"`
	Path     string `json:"path"`
	Interval string `json:"interval,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
}

// PeerAuthenticationSpec is security.istio.io/v1 PeerAuthentication.spec.
type PeerAuthenticationSpec struct {
	Selector      *WorkloadSelector `json:"selector,omitempty"`
	PortLevelMtls map[string]MTLS   `json:"portLevelMtls,omitempty"`
}

// MTLS is a peer-authentication mode.
type MTLS struct {
	Mode string `json:"mode"`
}
