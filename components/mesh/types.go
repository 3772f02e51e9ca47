package mesh

// Typed Istio specs (security.istio.io/v1, telemetry.istio.io/v1,
// networking.istio.io/v1). Field names follow the upstream CRDs in
// ../shared/crds/istio (checked by crdcheck in the tests).

type peerAuthenticationSpec struct {
	MTLS mtls `json:"mtls"`
}

type mtls struct {
	Mode string `json:"mode"`
}

// authorizationPolicySpec left empty (no rules, default ALLOW action)
// matches nothing, so it denies every request in its namespace.
type authorizationPolicySpec struct {
	Selector *workloadSelector `json:"selector,omitempty"`
	Action   string            `json:"action,omitempty"`
	Rules    []authzRule       `json:"rules,omitempty"`
}

type workloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type authzRule struct {
	From []authzFrom `json:"from,omitempty"`
	To   []authzTo   `json:"to,omitempty"`
}

type authzTo struct {
	Operation authzOperation `json:"operation"`
}

type authzOperation struct {
	NotPaths []string `json:"notPaths,omitempty"`
}

type authzFrom struct {
	Source authzSource `json:"source"`
}

type authzSource struct {
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`
}

type requestAuthenticationSpec struct {
	Selector workloadSelector `json:"selector"`
	JWTRules []jwtRule        `json:"jwtRules"`
}

type jwtRule struct {
	Issuer               string          `json:"issuer"`
	JWKSURI              string          `json:"jwksUri"`
	OutputClaimToHeaders []claimToHeader `json:"outputClaimToHeaders,omitempty"`
}

type claimToHeader struct {
	Header string `json:"header"`
	Claim  string `json:"claim"`
}

type telemetrySpec struct {
	Tracing []tracing `json:"tracing"`
}

type tracing struct {
	Providers                []providerRef `json:"providers"`
	RandomSamplingPercentage float64       `json:"randomSamplingPercentage"`
}

type providerRef struct {
	Name string `json:"name"`
}

type gatewaySpec struct {
	Selector map[string]string `json:"selector"`
	Servers  []server          `json:"servers"`
}

type server struct {
	Port  port       `json:"port"`
	Hosts []string   `json:"hosts"`
	TLS   *serverTLS `json:"tls,omitempty"`
}

type port struct {
	Number   int    `json:"number"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

type serverTLS struct {
	Mode           string `json:"mode,omitempty"`
	CredentialName string `json:"credentialName,omitempty"`
	HTTPSRedirect  bool   `json:"httpsRedirect,omitempty"`
}

type virtualServiceSpec struct {
	Hosts    []string    `json:"hosts"`
	Gateways []string    `json:"gateways"`
	HTTP     []httpRoute `json:"http"`
}

type httpRoute struct {
	Name    string             `json:"name"`
	Match   []httpMatch        `json:"match"`
	Route   []routeDestination `json:"route"`
	Timeout string             `json:"timeout,omitempty"`
}

type httpMatch struct {
	URI     stringMatch            `json:"uri"`
	Headers map[string]stringExact `json:"headers,omitempty"`
}

type stringExact struct {
	Exact string `json:"exact"`
}

type stringMatch struct {
	Prefix string `json:"prefix"`
}

type routeDestination struct {
	Destination destination `json:"destination"`
	Weight      int         `json:"weight,omitempty"`
}

type destination struct {
	Host   string     `json:"host"`
	Subset string     `json:"subset,omitempty"`
	Port   portNumber `json:"port"`
}

type portNumber struct {
	Number int `json:"number"`
}
