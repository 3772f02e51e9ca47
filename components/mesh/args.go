package mesh

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Defaults applied by Args.applyDefaults.
const (
	DefaultNamespace        = "istio-system"
	DefaultGatewayNamespace = "istio-ingress"
	DefaultGatewayName      = "istio-ingressgateway"
	DefaultTracingProvider  = "otel-tracing"
	DefaultOTelPort         = 4317
	DefaultSamplingPercent  = 1.0
	DefaultOrderAPIPort     = 8080
	DefaultOrderAPIPrefix   = "/"
	DefaultOrderAPITimeout  = 10 * time.Second
	// DefaultCustomerHeader carries the verified token's subject to the
	// order service, which uses it as the customer id.
	DefaultCustomerHeader = "x-ordermesh-customer"
)

// DefaultPublicPaths are reachable through the gateway without a token:
// the gRPC health checks of the order API (load balancers and uptime
// probes carry no end-user token).
var DefaultPublicPaths = []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}

// InjectionLabel turns on sidecar injection for a namespace.
var InjectionLabel = map[string]string{"istio-injection": "enabled"}

// Args configures the mesh. Every number is explicit; the stack profile
// decides them.
type Args struct {
	// Namespace holds istiod and the mesh-wide (root namespace) policies.
	// Default "istio-system".
	Namespace string
	// GatewayNamespace holds the ingress gateway. Default "istio-ingress".
	GatewayNamespace string
	// InstallOperators installs the base, istiod and gateway charts. nil
	// means true. When false (Istio already installed, offline tests) no
	// Helm resources are created, only the Istio custom resources and the
	// namespace labels.
	InstallOperators *bool
	// AppNamespaces get sidecar injection and an allow-nothing
	// AuthorizationPolicy. They must already exist (pass DependsOn).
	AppNamespaces []string

	// MTLSMode is the mesh-wide PeerAuthentication mode: STRICT (default)
	// or PERMISSIVE (while migrating workloads into the mesh).
	MTLSMode string
	// JWT, when Issuer is set, requires a valid end-user JWT from that
	// issuer on every request through the ingress gateway.
	JWT JWT

	// TracingSamplingPercent of requests traced by the proxies, 0..100.
	// Nil means 1.
	TracingSamplingPercent *float64
	// OTelCollectorHost is the collector's in-cluster host name, e.g.
	// "otel-collector.observability.svc.cluster.local". Required.
	OTelCollectorHost string
	// OTelCollectorPort is its OTLP gRPC port. Default 4317.
	OTelCollectorPort int

	// IngressHost is the public host name of the order API. Required.
	IngressHost string
	// IngressTLSSecret, when set, serves HTTPS on 443 with this secret (in
	// GatewayNamespace) and redirects port 80 to it.
	IngressTLSSecret string
	// OrderAPI is the in-mesh destination of the public route.
	OrderAPI Destination
	// GatewayServiceType is the ingress Service type: LoadBalancer
	// (default), NodePort or ClusterIP.
	GatewayServiceType string
}

// JWT configures end-user authentication at the ingress gateway.
type JWT struct {
	// Issuer is the expected iss claim; empty disables JWT checks.
	Issuer string
	// JWKSURI is the https URL of the issuer's JSON Web Key Set.
	JWKSURI string
	// PublicPaths are request paths the gateway lets through without a
	// token (a request with an invalid token is still rejected). Exact
	// paths, or a prefix ending in "*". Nil means DefaultPublicPaths; an
	// empty non-nil slice means no exceptions.
	PublicPaths []string
	// ClaimHeaders copy claims of a verified token into request headers
	// for the backend. Nil means sub -> DefaultCustomerHeader.
	ClaimHeaders []ClaimHeader
}

// ClaimHeader copies one verified claim into one request header.
type ClaimHeader struct {
	// Claim is the claim name (string, int or bool claims only).
	Claim string
	// Header is the lower-case header name (gRPC metadata keys are lower-case).
	Header string
}

// Destination is a Service the ingress routes to.
type Destination struct {
	// Service name. Default "order".
	Service string
	// Namespace of the Service. Required.
	Namespace string
	// Port of the Service. Default 8080.
	Port int
	// PathPrefix routed to it. Default "/".
	PathPrefix string
	// Timeout of a request through the gateway. Default 10s.
	Timeout time.Duration
	// CanaryWeight, when > 0, splits public traffic between the service's
	// DestinationRule subsets v1 and v2 (100-CanaryWeight / CanaryWeight)
	// and sends requests with header `canary: "true"` to v2. Without it the
	// gateway would bypass the subsets and split by pod count. 0..100.
	CanaryWeight int
}

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	headerRE   = regexp.MustCompile(`^[a-z0-9][-_a-z0-9]*$`)
	hostRE     = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func (a *Args) installOperators() bool { return a.InstallOperators == nil || *a.InstallOperators }

func (a *Args) samplingPercent() float64 {
	if a.TracingSamplingPercent == nil {
		return DefaultSamplingPercent
	}
	return *a.TracingSamplingPercent
}

func (a *Args) applyDefaults() {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.GatewayNamespace == "" {
		a.GatewayNamespace = DefaultGatewayNamespace
	}
	if a.MTLSMode == "" {
		a.MTLSMode = "STRICT"
	}
	if a.OTelCollectorPort == 0 {
		a.OTelCollectorPort = DefaultOTelPort
	}
	if a.GatewayServiceType == "" {
		a.GatewayServiceType = "LoadBalancer"
	}
	if a.OrderAPI.Service == "" {
		a.OrderAPI.Service = "order"
	}
	if a.OrderAPI.Port == 0 {
		a.OrderAPI.Port = DefaultOrderAPIPort
	}
	if a.OrderAPI.PathPrefix == "" {
		a.OrderAPI.PathPrefix = DefaultOrderAPIPrefix
	}
	if a.OrderAPI.Timeout == 0 {
		a.OrderAPI.Timeout = DefaultOrderAPITimeout
	}
	// Copy so the defaults never alias the caller's or the package's slices.
	if a.JWT.PublicPaths == nil {
		a.JWT.PublicPaths = append([]string{}, DefaultPublicPaths...)
	} else {
		a.JWT.PublicPaths = append([]string{}, a.JWT.PublicPaths...)
	}
	if a.JWT.ClaimHeaders == nil {
		a.JWT.ClaimHeaders = []ClaimHeader{{Claim: "sub", Header: DefaultCustomerHeader}}
	} else {
		a.JWT.ClaimHeaders = append([]ClaimHeader{}, a.JWT.ClaimHeaders...)
	}
}

func (a *Args) validate() error {
	var errs []error
	bad := func(field string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("mesh: %s = %v: %s", field, value, allowed))
	}
	label := func(field, v string) {
		if !dnsLabelRE.MatchString(v) {
			bad(field, fmt.Sprintf("%q", v), "must be a DNS-1123 label")
		}
	}
	label("Namespace", a.Namespace)
	label("GatewayNamespace", a.GatewayNamespace)
	seen := map[string]bool{}
	for i, ns := range a.AppNamespaces {
		label(fmt.Sprintf("AppNamespaces[%d]", i), ns)
		if seen[ns] {
			bad(fmt.Sprintf("AppNamespaces[%d]", i), fmt.Sprintf("%q", ns), "is listed twice")
		}
		if ns == a.Namespace {
			bad(fmt.Sprintf("AppNamespaces[%d]", i), fmt.Sprintf("%q", ns), "must not be the Istio root namespace")
		}
		seen[ns] = true
	}
	if a.MTLSMode != "STRICT" && a.MTLSMode != "PERMISSIVE" {
		bad("MTLSMode", fmt.Sprintf("%q", a.MTLSMode), "must be STRICT or PERMISSIVE")
	}
	if a.JWT.Issuer != "" && !strings.HasPrefix(a.JWT.JWKSURI, "https://") {
		bad("JWT.JWKSURI", fmt.Sprintf("%q", a.JWT.JWKSURI), "must be an https URL when JWT.Issuer is set")
	}
	if a.JWT.Issuer == "" && a.JWT.JWKSURI != "" {
		bad("JWT.Issuer", `""`, "must be set when JWT.JWKSURI is set")
	}
	for i, p := range a.JWT.PublicPaths {
		if !strings.HasPrefix(p, "/") || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			bad(fmt.Sprintf("JWT.PublicPaths[%d]", i), fmt.Sprintf("%q", p), `must start with / and may only end in "*"`)
		}
	}
	headers := map[string]bool{}
	for i, c := range a.JWT.ClaimHeaders {
		if c.Claim == "" {
			bad(fmt.Sprintf("JWT.ClaimHeaders[%d].Claim", i), `""`, "must name a claim")
		}
		if !headerRE.MatchString(c.Header) {
			bad(fmt.Sprintf("JWT.ClaimHeaders[%d].Header", i), fmt.Sprintf("%q", c.Header), "must be a lower-case header name ([-_a-z0-9])")
		}
		if headers[c.Header] {
			bad(fmt.Sprintf("JWT.ClaimHeaders[%d].Header", i), fmt.Sprintf("%q", c.Header), "is listed twice")
		}
		headers[c.Header] = true
	}
	if p := a.samplingPercent(); p < 0 || p > 100 {
		bad("TracingSamplingPercent", p, "must be 0..100")
	}
	if !hostRE.MatchString(a.OTelCollectorHost) {
		bad("OTelCollectorHost", fmt.Sprintf("%q", a.OTelCollectorHost), "must be a DNS host name")
	}
	if a.OTelCollectorPort < 1 || a.OTelCollectorPort > 65535 {
		bad("OTelCollectorPort", a.OTelCollectorPort, "must be 1..65535")
	}
	if !hostRE.MatchString(a.IngressHost) {
		bad("IngressHost", fmt.Sprintf("%q", a.IngressHost), "must be a DNS host name")
	}
	if a.IngressTLSSecret != "" && !regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`).MatchString(a.IngressTLSSecret) {
		bad("IngressTLSSecret", fmt.Sprintf("%q", a.IngressTLSSecret), "must be a Secret name")
	}
	label("OrderAPI.Service", a.OrderAPI.Service)
	label("OrderAPI.Namespace", a.OrderAPI.Namespace)
	if a.OrderAPI.Port < 1 || a.OrderAPI.Port > 65535 {
		bad("OrderAPI.Port", a.OrderAPI.Port, "must be 1..65535")
	}
	if a.OrderAPI.PathPrefix[0] != '/' {
		bad("OrderAPI.PathPrefix", fmt.Sprintf("%q", a.OrderAPI.PathPrefix), "must start with /")
	}
	if a.OrderAPI.CanaryWeight < 0 || a.OrderAPI.CanaryWeight > 100 {
		bad("OrderAPI.CanaryWeight", a.OrderAPI.CanaryWeight, "must be 0..100")
	}
	if a.OrderAPI.Timeout < time.Millisecond {
		bad("OrderAPI.Timeout", a.OrderAPI.Timeout, "must be >= 1ms")
	}
	switch a.GatewayServiceType {
	case "LoadBalancer", "NodePort", "ClusterIP":
	default:
		bad("GatewayServiceType", fmt.Sprintf("%q", a.GatewayServiceType), "must be LoadBalancer, NodePort or ClusterIP")
	}
	return errors.Join(errs...)
}
