package observability

// Typed prometheus-operator monitoring.coreos.com/v1 specs. Field names
// follow the upstream CRDs in ../shared/crds/prometheus-operator.

type prometheusRuleSpec struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is one alerting rule, exported so callers can inspect thresholds.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []matchExpression `json:"matchExpressions,omitempty"`
}

type matchExpression struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

type namespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

type podMonitorSpec struct {
	Selector            labelSelector       `json:"selector"`
	NamespaceSelector   namespaceSelector   `json:"namespaceSelector"`
	PodMetricsEndpoints []podMetricEndpoint `json:"podMetricsEndpoints"`
}

type podMetricEndpoint struct {
	Port        string       `json:"port"`
	Path        string       `json:"path,omitempty"`
	Interval    string       `json:"interval,omitempty"`
	Relabelings []relabeling `json:"relabelings,omitempty"`
}

type relabeling struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Action       string   `json:"action,omitempty"`
	Regex        string   `json:"regex,omitempty"`
}

type serviceMonitorSpec struct {
	Selector          labelSelector     `json:"selector"`
	NamespaceSelector namespaceSelector `json:"namespaceSelector"`
	Endpoints         []endpoint        `json:"endpoints"`
}

type endpoint struct {
	Port     string `json:"port"`
	Path     string `json:"path,omitempty"`
	Interval string `json:"interval,omitempty"`
}
