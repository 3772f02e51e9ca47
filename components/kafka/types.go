package kafka

// Typed Strimzi kafka.strimzi.io/v1 specs. Field names follow the upstream
// CRDs in ../shared/crds/strimzi (checked by crdcheck in the tests); only
// the fields ordermesh sets are modelled.

type kafkaSpec struct {
	Kafka          kafkaClusterSpec   `json:"kafka"`
	EntityOperator entityOperatorSpec `json:"entityOperator"`
	KafkaExporter  *kafkaExporterSpec `json:"kafkaExporter,omitempty"`
}

type kafkaClusterSpec struct {
	Version       string         `json:"version,omitempty"`
	Listeners     []listener     `json:"listeners"`
	Authorization authorization  `json:"authorization"`
	Config        map[string]any `json:"config"`
	MetricsConfig metricsConfig  `json:"metricsConfig"`
}

type listener struct {
	Name           string                  `json:"name"`
	Port           int                     `json:"port"`
	Type           string                  `json:"type"`
	TLS            bool                    `json:"tls"`
	Authentication *listenerAuthentication `json:"authentication,omitempty"`
}

type listenerAuthentication struct {
	Type string `json:"type"`
}

type authorization struct {
	Type string `json:"type"`
}

type metricsConfig struct {
	Type   string               `json:"type"`
	Values *metricsReporterVals `json:"values,omitempty"`
}

type metricsReporterVals struct {
	AllowList []string `json:"allowList"`
}

type entityOperatorSpec struct {
	TopicOperator struct{}         `json:"topicOperator"`
	UserOperator  userOperatorSpec `json:"userOperator"`
}

type userOperatorSpec struct {
	WatchedNamespace string `json:"watchedNamespace,omitempty"`
}

type kafkaExporterSpec struct {
	TopicRegex string `json:"topicRegex"`
	GroupRegex string `json:"groupRegex"`
}

type nodePoolSpec struct {
	Replicas  int                   `json:"replicas"`
	Roles     []string              `json:"roles"`
	Storage   poolStorage           `json:"storage"`
	Resources *resourceRequirements `json:"resources,omitempty"`
}

type resourceRequirements struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type poolStorage struct {
	Type        string `json:"type"`
	Size        string `json:"size,omitempty"`
	Class       string `json:"class,omitempty"`
	DeleteClaim *bool  `json:"deleteClaim,omitempty"`
	// KRaftMetadata "shared" places the KRaft metadata log on this volume.
	KRaftMetadata string `json:"kraftMetadata,omitempty"`
}

type topicSpec struct {
	TopicName  string         `json:"topicName"`
	Partitions int            `json:"partitions"`
	Replicas   int            `json:"replicas"`
	Config     map[string]any `json:"config"`
}

type userSpec struct {
	Authentication userAuthentication `json:"authentication"`
	Authorization  userAuthorization  `json:"authorization"`
}

type userAuthentication struct {
	Type string `json:"type"`
}

type userAuthorization struct {
	Type string `json:"type"`
	ACLs []ACL  `json:"acls"`
}

// ACL is one Strimzi simple-authorization rule, exported so callers and
// tests can inspect what a service is allowed to do.
type ACL struct {
	Type       string      `json:"type"`
	Resource   ACLResource `json:"resource"`
	Operations []string    `json:"operations"`
}

// ACLResource names the Kafka resource an ACL applies to.
type ACLResource struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	PatternType string `json:"patternType"`
}
