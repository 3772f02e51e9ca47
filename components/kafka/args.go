package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Defaults applied by Args.applyDefaults.
const (
	DefaultNamespace        = "kafka"
	DefaultClusterName      = "ordermesh"
	DefaultDeadLetterSuffix = ".dlq"
	DefaultPlainPort        = 9092
	DefaultTLSPort          = 9093
	DefaultRetentionHours   = 168
	DefaultPartitions       = 3
	DefaultStorageSize      = "10Gi"
)

// Storage types accepted by StorageSpec.Type.
const (
	StorageEphemeral  = "ephemeral"
	StoragePersistent = "persistent-claim"
)

// Args configures the Kafka platform. Every count is explicit: the caller
// (infra/, from the stack profile) decides dev vs prod numbers.
type Args struct {
	// Namespace holds the Kafka cluster, its topics and users. Default "kafka".
	Namespace string
	// UsersNamespace holds the KafkaUsers and so the Secrets with each
	// service's client certificate; set it to the services' namespace so
	// pods can mount them. The user operator watches it and the cluster
	// operator is granted access to it. Default Namespace.
	UsersNamespace string
	// OperatorNamespace holds the Strimzi cluster operator. Default Namespace.
	OperatorNamespace string
	// WatchNamespaces are extra namespaces the operator watches besides its
	// own (the chart's watchNamespaces). Default none.
	WatchNamespaces []string
	// InstallOperators installs the Strimzi operator chart (and its CRDs).
	// nil means true. Set false when the operator and CRDs already exist
	// (air-gapped clusters, the offline end-to-end test): then no Helm
	// resources are created, only the custom resources.
	InstallOperators *bool
	// ClusterName names the Kafka resource. Default "ordermesh".
	ClusterName string
	// KafkaVersion pins the Kafka version; empty uses the operator default.
	KafkaVersion string

	// Controllers is the number of dedicated KRaft controllers. 0 (default)
	// runs Brokers dual-role nodes instead; otherwise it must be odd.
	Controllers int
	// Brokers is the number of broker (or dual-role) nodes. Default 1.
	Brokers int
	// Storage of every node. Default ephemeral.
	Storage StorageSpec
	// Resources of every node; empty fields are left unset.
	Resources Resources
	// PlainPort is the plain (in-mesh) listener port. Default 9092.
	PlainPort int
	// TLSPort is the TLS listener port (client certificate auth). Default 9093.
	TLSPort int

	// DefaultReplicationFactor for broker-created internal topics. Default
	// min(3, Brokers).
	DefaultReplicationFactor int
	// MinInSyncReplicas cluster default. Default 1 when the replication
	// factor is 1, else replication factor - 1.
	MinInSyncReplicas int
	// RetentionHours is the cluster default log retention. Default 168.
	RetentionHours int

	// Topics to create as KafkaTopic resources.
	Topics []TopicSpec
	// DeadLetterSuffix names the dead-letter topic of a topic with
	// DeadLetter set: <name><suffix>. Default ".dlq".
	DeadLetterSuffix string
	// Clients get one KafkaUser each, with ACLs derived from what they
	// produce and consume.
	Clients []ClientSpec
}

// StorageSpec is the storage of each Kafka node.
type StorageSpec struct {
	// Type is "ephemeral" (default) or "persistent-claim".
	Type string
	// Size of each persistent volume claim. Default "10Gi" for persistent.
	Size string
	// Class is the storage class; empty uses the cluster default.
	Class string
	// DeleteClaim deletes the PVCs when the cluster is deleted.
	DeleteClaim bool
}

// Resources are container requests and limits as Kubernetes quantities.
type Resources struct {
	Requests ResourceList
	Limits   ResourceList
}

// ResourceList holds CPU and memory quantities ("500m", "2Gi").
type ResourceList struct {
	CPU    string
	Memory string
}

// TopicSpec is one Kafka topic. Zero values take the defaults noted.
type TopicSpec struct {
	// Name is the Kafka topic name ([a-zA-Z0-9._-], no wildcards).
	Name string
	// Partitions. Default 3.
	Partitions int
	// Replicas. Default Args.DefaultReplicationFactor.
	Replicas int
	// MinInSyncReplicas for the topic. Default Args.MinInSyncReplicas
	// capped at Replicas.
	MinInSyncReplicas int
	// RetentionMs; 0 keeps the cluster default, -1 keeps forever.
	RetentionMs int64
	// CleanupPolicy is "delete" (default), "compact" or "compact,delete".
	CleanupPolicy string
	// DeadLetter also creates <Name><DeadLetterSuffix>, same partitions
	// and replicas, cleanup "delete"; consumers of Name may write to it.
	DeadLetter bool
	// DeadLetterRetentionMs of the dead-letter topic; 0 means RetentionMs.
	DeadLetterRetentionMs int64
}

// ClientSpec declares what one service does with Kafka.
type ClientSpec struct {
	// Name of the service; also the KafkaUser name (a DNS-1123 label).
	Name string
	// Produces lists the topics the service writes.
	Produces []string
	// Consumes lists the topics the service reads.
	Consumes []string
	// ConsumerGroup is the service's group id. Default Name. Required to be
	// non-empty only when Consumes is non-empty.
	ConsumerGroup string
}

var (
	topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	quantityRE  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
)

var cleanupPolicies = []string{"delete", "compact", "compact,delete"}

// installOperators reports whether charts are installed (nil means true).
func (a *Args) installOperators() bool {
	return a.InstallOperators == nil || *a.InstallOperators
}

func (a *Args) applyDefaults() {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.UsersNamespace == "" {
		a.UsersNamespace = a.Namespace
	}
	if a.OperatorNamespace == "" {
		a.OperatorNamespace = a.Namespace
	}
	if a.ClusterName == "" {
		a.ClusterName = DefaultClusterName
	}
	if a.Brokers == 0 {
		a.Brokers = 1
	}
	if a.Storage.Type == "" {
		a.Storage.Type = StorageEphemeral
	}
	if a.Storage.Type == StoragePersistent && a.Storage.Size == "" {
		a.Storage.Size = DefaultStorageSize
	}
	if a.DefaultReplicationFactor == 0 {
		a.DefaultReplicationFactor = min(3, a.Brokers)
	}
	if a.MinInSyncReplicas == 0 {
		a.MinInSyncReplicas = max(1, a.DefaultReplicationFactor-1)
	}
	if a.RetentionHours == 0 {
		a.RetentionHours = DefaultRetentionHours
	}
	if a.PlainPort == 0 {
		a.PlainPort = DefaultPlainPort
	}
	if a.TLSPort == 0 {
		a.TLSPort = DefaultTLSPort
	}
	if a.DeadLetterSuffix == "" {
		a.DeadLetterSuffix = DefaultDeadLetterSuffix
	}
	a.Topics = slices.Clone(a.Topics)
	for i := range a.Topics {
		t := &a.Topics[i]
		if t.Partitions == 0 {
			t.Partitions = DefaultPartitions
		}
		if t.Replicas == 0 {
			t.Replicas = a.DefaultReplicationFactor
		}
		if t.MinInSyncReplicas == 0 {
			t.MinInSyncReplicas = min(a.MinInSyncReplicas, t.Replicas)
		}
		if t.CleanupPolicy == "" {
			t.CleanupPolicy = "delete"
		}
	}
	a.Clients = slices.Clone(a.Clients)
	for i := range a.Clients {
		c := &a.Clients[i]
		if c.ConsumerGroup == "" {
			c.ConsumerGroup = c.Name
		}
	}
}

// validate returns every problem at once; call after applyDefaults.
func (a *Args) validate() error {
	var errs []error
	bad := func(field string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("kafka: %s = %v: %s", field, value, allowed))
	}
	for _, ns := range append([]string{a.Namespace, a.UsersNamespace, a.OperatorNamespace}, a.WatchNamespaces...) {
		if !dnsLabelRE.MatchString(ns) {
			bad("namespace", fmt.Sprintf("%q", ns), "must be a DNS-1123 label")
		}
	}
	if !dnsLabelRE.MatchString(a.ClusterName) {
		bad("ClusterName", fmt.Sprintf("%q", a.ClusterName), "must be a DNS-1123 label")
	}
	if a.Controllers < 0 || (a.Controllers > 0 && a.Controllers%2 == 0) {
		bad("Controllers", a.Controllers, "must be 0 (dual-role nodes) or an odd number for a KRaft quorum")
	}
	if a.Brokers < 1 {
		bad("Brokers", a.Brokers, "must be >= 1")
	}
	if a.Controllers == 0 && a.Brokers%2 == 0 {
		bad("Brokers", a.Brokers, "dual-role nodes form the KRaft quorum, so their number must be odd")
	}
	switch a.Storage.Type {
	case StorageEphemeral:
	case StoragePersistent:
		if !regexp.MustCompile(`^[0-9]+(Ki|Mi|Gi|Ti)$`).MatchString(a.Storage.Size) {
			bad("Storage.Size", fmt.Sprintf("%q", a.Storage.Size), "must be a quantity like 10Gi")
		}
	default:
		bad("Storage.Type", fmt.Sprintf("%q", a.Storage.Type), "must be ephemeral or persistent-claim")
	}
	for field, q := range map[string]string{
		"Resources.Requests.CPU": a.Resources.Requests.CPU, "Resources.Requests.Memory": a.Resources.Requests.Memory,
		"Resources.Limits.CPU": a.Resources.Limits.CPU, "Resources.Limits.Memory": a.Resources.Limits.Memory,
	} {
		if q != "" && !quantityRE.MatchString(q) {
			bad(field, fmt.Sprintf("%q", q), "must be a Kubernetes quantity like 500m or 2Gi")
		}
	}
	for field, p := range map[string]int{"PlainPort": a.PlainPort, "TLSPort": a.TLSPort} {
		// Strimzi reserves 9090/9091 (replication, control plane), 9404
		// (metrics) and 9999 (JMX).
		if p < 1 || p > 65535 || slices.Contains([]int{9090, 9091, 9404, 9999}, p) {
			bad(field, p, "must be 1..65535 and not 9090, 9091, 9404 or 9999 (reserved by Strimzi)")
		}
	}
	if a.PlainPort == a.TLSPort {
		bad("TLSPort", a.TLSPort, "must differ from PlainPort")
	}
	if a.DefaultReplicationFactor < 1 || a.DefaultReplicationFactor > a.Brokers {
		bad("DefaultReplicationFactor", a.DefaultReplicationFactor, fmt.Sprintf("must be 1..Brokers (%d)", a.Brokers))
	}
	checkISR := func(field string, isr, replicas int) {
		switch {
		case isr < 1:
			bad(field, isr, "must be >= 1")
		case replicas > 1 && isr >= replicas:
			bad(field, isr, fmt.Sprintf("must be below the replication factor %d so one replica can be down", replicas))
		case replicas == 1 && isr != 1:
			bad(field, isr, "must be 1 with a single replica")
		}
	}
	checkISR("MinInSyncReplicas", a.MinInSyncReplicas, a.DefaultReplicationFactor)
	if a.RetentionHours < 1 {
		bad("RetentionHours", a.RetentionHours, "must be >= 1")
	}
	if !topicNameRE.MatchString("x"+a.DeadLetterSuffix) || strings.ContainsAny(a.DeadLetterSuffix, "*") {
		bad("DeadLetterSuffix", fmt.Sprintf("%q", a.DeadLetterSuffix), "must use only [a-zA-Z0-9._-]")
	}

	topics := map[string]bool{}
	objectNames := map[string]string{}
	for i, t := range a.Topics {
		f := fmt.Sprintf("Topics[%d]", i)
		if !topicNameRE.MatchString(t.Name) || t.Name == "." || t.Name == ".." {
			bad(f+".Name", fmt.Sprintf("%q", t.Name), "must be 1-249 chars of [a-zA-Z0-9._-] (no wildcards)")
		}
		for _, n := range topicNames(t, a.DeadLetterSuffix) {
			if topics[n] {
				bad(f+".Name", fmt.Sprintf("%q", n), "is declared twice")
			}
			topics[n] = true
			if other, ok := objectNames[resourceName(n)]; ok && other != n {
				bad(f+".Name", fmt.Sprintf("%q", n), fmt.Sprintf("maps to the same KafkaTopic name as %q", other))
			}
			objectNames[resourceName(n)] = n
		}
		if t.Partitions < 1 {
			bad(f+".Partitions", t.Partitions, "must be >= 1")
		}
		if t.Replicas < 1 || t.Replicas > a.Brokers {
			bad(f+".Replicas", t.Replicas, fmt.Sprintf("must be 1..Brokers (%d)", a.Brokers))
		}
		checkISR(f+".MinInSyncReplicas", t.MinInSyncReplicas, t.Replicas)
		if t.RetentionMs < -1 {
			bad(f+".RetentionMs", t.RetentionMs, "must be -1 (forever), 0 (cluster default) or positive")
		}
		if t.DeadLetterRetentionMs < -1 {
			bad(f+".DeadLetterRetentionMs", t.DeadLetterRetentionMs, "must be -1 (forever), 0 (as RetentionMs) or positive")
		}
		if !slices.Contains(cleanupPolicies, t.CleanupPolicy) {
			bad(f+".CleanupPolicy", fmt.Sprintf("%q", t.CleanupPolicy), "must be one of "+strings.Join(cleanupPolicies, ", "))
		}
	}

	clients := map[string]bool{}
	groups := map[string]string{}
	for i, c := range a.Clients {
		f := fmt.Sprintf("Clients[%d]", i)
		if !dnsLabelRE.MatchString(c.Name) {
			bad(f+".Name", fmt.Sprintf("%q", c.Name), "must be a DNS-1123 label")
		}
		if clients[c.Name] {
			bad(f+".Name", fmt.Sprintf("%q", c.Name), "is declared twice")
		}
		clients[c.Name] = true
		if len(c.Produces)+len(c.Consumes) == 0 {
			bad(f, c.Name, "declares no produced or consumed topics")
		}
		for _, list := range []struct {
			field string
			names []string
		}{{"Produces", c.Produces}, {"Consumes", c.Consumes}} {
			for j, n := range list.names {
				if !topics[n] {
					bad(fmt.Sprintf("%s.%s[%d]", f, list.field, j), fmt.Sprintf("%q", n), "must name a declared topic (no wildcards)")
				}
			}
		}
		if len(c.Consumes) > 0 {
			if c.ConsumerGroup == "" || strings.Contains(c.ConsumerGroup, "*") {
				bad(f+".ConsumerGroup", fmt.Sprintf("%q", c.ConsumerGroup), "must be a literal group id")
			}
			// A shared group would split one service's partitions with another.
			if other, ok := groups[c.ConsumerGroup]; ok {
				bad(f+".ConsumerGroup", fmt.Sprintf("%q", c.ConsumerGroup), fmt.Sprintf("is already the group of %q; each service needs its own", other))
			}
			groups[c.ConsumerGroup] = c.Name
		}
	}
	return errors.Join(errs...)
}

// topicNames returns the topic and, if enabled, its dead-letter topic.
func topicNames(t TopicSpec, suffix string) []string {
	if t.DeadLetter {
		return []string{t.Name, t.Name + suffix}
	}
	return []string{t.Name}
}
