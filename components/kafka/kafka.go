// Package kafka deploys the Strimzi operator, a KRaft Kafka cluster built
// from node pools, the order domain's topics and one least-privilege
// KafkaUser per service.
package kafka

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/customresource"
	"github.com/ordermesh/ordermesh/components/versions"
)

// ClusterLabel ties node pools, topics and users to their Kafka cluster.
const ClusterLabel = "strimzi.io/cluster"

// Kafka is the deployed Kafka platform.
type Kafka struct {
	pulumi.ResourceState

	// BootstrapPlain is host:port of the plain (in-mesh) listener.
	BootstrapPlain pulumi.StringOutput `pulumi:"bootstrapPlain"`
	// BootstrapTLS is host:port of the TLS listener (mutual TLS auth).
	BootstrapTLS pulumi.StringOutput `pulumi:"bootstrapTls"`
	// TopicNames lists every topic created, dead-letter topics included.
	TopicNames pulumi.StringArrayOutput `pulumi:"topicNames"`
	// UserSecrets maps each client name to the Secret (in UsersNamespace)
	// where the user operator writes its certificate and key.
	UserSecrets pulumi.StringMapOutput `pulumi:"userSecrets"`
	// UsersNamespace is where the KafkaUsers and their Secrets live.
	UsersNamespace pulumi.StringOutput `pulumi:"usersNamespace"`
	// ClusterCASecret holds the CA certificate clients use to trust brokers.
	ClusterCASecret pulumi.StringOutput `pulumi:"clusterCaSecret"`
}

// NewKafka creates the Kafka platform. Pass the Kubernetes provider in opts.
func NewKafka(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Kafka, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}

	k := &Kafka{}
	if err := ctx.RegisterComponentResource("ordermesh:kafka:Kafka", name, k, opts...); err != nil {
		return nil, fmt.Errorf("kafka: register component: %w", err)
	}
	parent := pulumi.Parent(k)
	crOpts := []pulumi.ResourceOption{parent}

	if a.installOperators() {
		chart, err := helmv4.NewChart(ctx, name+"-strimzi", &helmv4.ChartArgs{
			Chart:     pulumi.String(versions.StrimziOperator.Repo),
			Version:   pulumi.String(versions.StrimziOperator.Version),
			Namespace: pulumi.String(a.OperatorNamespace),
			Values:    operatorValues(&a),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("kafka: strimzi chart: %w", err)
		}
		crOpts = append(crOpts, pulumi.DependsOn([]pulumi.Resource{chart}))
	}

	for _, o := range a.render() {
		if _, err := customresource.New(ctx, name+"-"+o.ResourceName, o, crOpts...); err != nil {
			return nil, fmt.Errorf("kafka: %s %s: %w", o.Kind, o.Name, err)
		}
	}

	plain, tls := a.bootstrap()
	k.BootstrapPlain = pulumi.String(plain).ToStringOutput()
	k.BootstrapTLS = pulumi.String(tls).ToStringOutput()
	k.TopicNames = pulumi.ToStringArray(a.allTopicNames()).ToStringArrayOutput()
	secrets := pulumi.StringMap{}
	for _, c := range a.Clients {
		secrets[c.Name] = pulumi.String(c.Name)
	}
	k.UserSecrets = secrets.ToStringMapOutput()
	k.UsersNamespace = pulumi.String(a.UsersNamespace).ToStringOutput()
	k.ClusterCASecret = pulumi.String(a.ClusterName + "-cluster-ca-cert").ToStringOutput()
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{
		"bootstrapPlain":  k.BootstrapPlain,
		"bootstrapTls":    k.BootstrapTLS,
		"topicNames":      k.TopicNames,
		"userSecrets":     k.UserSecrets,
		"usersNamespace":  k.UsersNamespace,
		"clusterCaSecret": k.ClusterCASecret,
	}); err != nil {
		return nil, fmt.Errorf("kafka: register outputs: %w", err)
	}
	return k, nil
}

// Object is one custom resource the component creates.
type Object = customresource.Object

// Render applies defaults, validates and builds every custom resource
// NewKafka would create, in creation order: node pools, Kafka, topics,
// users. Callers and tests use it to inspect the exact specs.
func Render(args *Args) ([]Object, error) {
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a.render(), nil
}

func (a *Args) render() []Object {
	cl := map[string]string{ClusterLabel: a.ClusterName}
	var out []Object
	for _, p := range a.nodePools() {
		out = append(out, Object{
			ResourceName: "pool-" + p.name, APIVersion: versions.StrimziKafkaNodePool.APIVersion,
			Kind: versions.StrimziKafkaNodePool.Kind, Name: p.name, Namespace: a.Namespace, Labels: cl, Spec: p.spec,
		})
	}
	out = append(out, Object{
		ResourceName: "cluster", APIVersion: versions.StrimziKafka.APIVersion, Kind: versions.StrimziKafka.Kind,
		Name: a.ClusterName, Namespace: a.Namespace, Spec: a.kafkaSpec(),
	})
	for _, t := range a.Topics {
		specs := []TopicSpec{t}
		if t.DeadLetter {
			dlq := t
			dlq.Name, dlq.CleanupPolicy, dlq.DeadLetter = t.Name+a.DeadLetterSuffix, "delete", false
			if t.DeadLetterRetentionMs != 0 {
				dlq.RetentionMs = t.DeadLetterRetentionMs
			}
			specs = append(specs, dlq)
		}
		for _, s := range specs {
			rn := resourceName(s.Name)
			out = append(out, Object{
				ResourceName: "topic-" + rn, APIVersion: versions.StrimziKafkaTopic.APIVersion, Kind: versions.StrimziKafkaTopic.Kind,
				Name: rn, Namespace: a.Namespace, Labels: cl, Spec: topicResourceSpec(s),
			})
		}
	}
	for _, c := range a.Clients {
		out = append(out, Object{
			ResourceName: "user-" + c.Name, APIVersion: versions.StrimziKafkaUser.APIVersion, Kind: versions.StrimziKafkaUser.Kind,
			Name: c.Name, Namespace: a.UsersNamespace, Labels: cl,
			Spec: userSpec{
				Authentication: userAuthentication{Type: "tls"},
				Authorization:  userAuthorization{Type: "simple", ACLs: ACLsFor(c, a.Topics, a.DeadLetterSuffix)},
			},
		})
	}
	return out
}

// ACLsFor derives a client's least-privilege ACLs: Write+Describe on
// produced topics; Read+Describe on consumed topics and on its consumer
// group; Write+Describe on the dead-letter topic of each consumed topic that
// has one (the consumer parks poison messages there). Literal names only.
func ACLsFor(c ClientSpec, topics []TopicSpec, dlqSuffix string) []ACL {
	perms := map[string][]string{} // topic -> operations
	add := func(topic string, ops ...string) {
		for _, op := range ops {
			if !slices.Contains(perms[topic], op) {
				perms[topic] = append(perms[topic], op)
			}
		}
	}
	for _, t := range c.Produces {
		add(t, "Write", "Describe")
	}
	for _, t := range c.Consumes {
		add(t, "Read", "Describe")
		for _, spec := range topics {
			if spec.Name == t && spec.DeadLetter {
				add(t+dlqSuffix, "Write", "Describe")
			}
		}
	}
	names := make([]string, 0, len(perms))
	for n := range perms {
		names = append(names, n)
	}
	slices.Sort(names)
	var acls []ACL
	for _, n := range names {
		ops := perms[n]
		slices.Sort(ops)
		acls = append(acls, ACL{Type: "allow", Resource: ACLResource{Type: "topic", Name: n, PatternType: "literal"}, Operations: ops})
	}
	if len(c.Consumes) > 0 {
		acls = append(acls, ACL{
			Type: "allow", Resource: ACLResource{Type: "group", Name: c.ConsumerGroup, PatternType: "literal"},
			Operations: []string{"Describe", "Read"},
		})
	}
	return acls
}

type pool struct {
	name string
	spec nodePoolSpec
}

func (a *Args) nodePools() []pool {
	st := poolStorage{Type: a.Storage.Type}
	if a.Storage.Type == StoragePersistent {
		st.Size, st.Class = a.Storage.Size, a.Storage.Class
		dc := a.Storage.DeleteClaim
		st.DeleteClaim = &dc
	}
	res := a.Resources.spec()
	if a.Controllers == 0 {
		return []pool{{"dual-role", nodePoolSpec{Replicas: a.Brokers, Roles: []string{"controller", "broker"}, Storage: st, Resources: res}}}
	}
	return []pool{
		{"controller", nodePoolSpec{Replicas: a.Controllers, Roles: []string{"controller"}, Storage: st, Resources: res}},
		{"broker", nodePoolSpec{Replicas: a.Brokers, Roles: []string{"broker"}, Storage: st, Resources: res}},
	}
}

// kafkaSpec builds the Kafka resource. Strimzi 1.x (kafka.strimzi.io/v1)
// supports only KRaft with node pools, so the strimzi.io/kraft and
// strimzi.io/node-pools annotations older releases needed are not set.
func (a *Args) kafkaSpec() kafkaSpec {
	rf, isr := a.DefaultReplicationFactor, a.MinInSyncReplicas
	return kafkaSpec{
		Kafka: kafkaClusterSpec{
			Version: a.KafkaVersion,
			Listeners: []listener{
				{Name: "plain", Port: a.PlainPort, Type: "internal", TLS: false},
				{Name: "tls", Port: a.TLSPort, Type: "internal", TLS: true, Authentication: &listenerAuthentication{Type: "tls"}},
			},
			Authorization: authorization{Type: "simple"},
			Config: map[string]any{
				"auto.create.topics.enable":                "false",
				"default.replication.factor":               rf,
				"min.insync.replicas":                      isr,
				"offsets.topic.replication.factor":         rf,
				"transaction.state.log.replication.factor": rf,
				"transaction.state.log.min.isr":            isr,
				"log.retention.hours":                      a.RetentionHours,
			},
			MetricsConfig: metricsConfig{
				Type:   "strimziMetricsReporter",
				Values: &metricsReporterVals{AllowList: []string{"kafka_server_.*", "kafka_controller_.*", "kafka_network_.*", "kafka_log_.*", "kafka_cluster_.*"}},
			},
		},
		EntityOperator: entityOperatorSpec{UserOperator: userOperatorSpec{WatchedNamespace: a.usersWatched()}},
		// Kafka Exporter publishes consumer group lag for dashboards/alerts.
		KafkaExporter: &kafkaExporterSpec{TopicRegex: ".*", GroupRegex: ".*"},
	}
}

// spec returns nil when nothing is set, so the field is omitted.
func (r Resources) spec() *resourceRequirements {
	list := func(l ResourceList) map[string]string {
		m := map[string]string{}
		if l.CPU != "" {
			m["cpu"] = l.CPU
		}
		if l.Memory != "" {
			m["memory"] = l.Memory
		}
		return m
	}
	req, lim := list(r.Requests), list(r.Limits)
	if len(req)+len(lim) == 0 {
		return nil
	}
	return &resourceRequirements{Requests: req, Limits: lim}
}

// usersWatched is empty (the operator default: the Kafka namespace) unless
// users live elsewhere.
func (a *Args) usersWatched() string {
	if a.UsersNamespace == a.Namespace {
		return ""
	}
	return a.UsersNamespace
}

func topicResourceSpec(t TopicSpec) topicSpec {
	cfg := map[string]any{
		"cleanup.policy":      t.CleanupPolicy,
		"min.insync.replicas": t.MinInSyncReplicas,
	}
	if t.RetentionMs != 0 {
		cfg["retention.ms"] = t.RetentionMs
	}
	return topicSpec{TopicName: t.Name, Partitions: t.Partitions, Replicas: t.Replicas, Config: cfg}
}

func operatorValues(a *Args) pulumi.Map {
	// The chart always watches its own namespace; list only the others.
	watch := pulumi.StringArray{}
	seen := map[string]bool{a.OperatorNamespace: true}
	for _, ns := range append([]string{a.Namespace, a.UsersNamespace}, a.WatchNamespaces...) {
		if !seen[ns] {
			seen[ns] = true
			watch = append(watch, pulumi.String(ns))
		}
	}
	return pulumi.Map{
		"watchNamespaces":   watch,
		"watchAnyNamespace": pulumi.Bool(false),
	}
}

// BootstrapAddresses returns the plain and TLS bootstrap addresses the
// cluster NewKafka creates from args will have (known before it exists).
func BootstrapAddresses(args *Args) (plain, tls string) {
	a := *args
	a.applyDefaults()
	return a.bootstrap()
}

func (a *Args) bootstrap() (plain, tls string) {
	host := fmt.Sprintf("%s-kafka-bootstrap.%s.svc", a.ClusterName, a.Namespace)
	return host + ":" + strconv.Itoa(a.PlainPort), host + ":" + strconv.Itoa(a.TLSPort)
}

func (a *Args) allTopicNames() []string {
	var out []string
	for _, t := range a.Topics {
		out = append(out, topicNames(t, a.DeadLetterSuffix)...)
	}
	return out
}

var nonDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

// resourceName maps a Kafka topic name to a Kubernetes object name
// (lower-case DNS subdomain); spec.topicName keeps the real name.
func resourceName(topic string) string {
	n := nonDNS.ReplaceAllString(strings.ToLower(topic), "-")
	return strings.Trim(n, ".-")
}
