package kafka

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/internal/pulumimock"
	"github.com/ordermesh/ordermesh/components/versions"
	"github.com/ordermesh/ordermesh/components/versions/crdcheck"
)

type (
	recorded = pulumimock.Resource
	mocks    struct{ pulumimock.Monitor }
)

func (m *mocks) cr(kind, name string) (map[string]any, bool) {
	for _, r := range m.Resources {
		md, _ := r.Inputs["metadata"].(map[string]any)
		if strings.HasSuffix(r.Type, ":"+kind) && md["name"] == name {
			return r.Inputs, true
		}
	}
	return nil, false
}

const crType = "kubernetes:kafka.strimzi.io/v1:"

func orderTopics() []TopicSpec {
	return []TopicSpec{
		{Name: "order.events", DeadLetter: true, RetentionMs: 604800000, DeadLetterRetentionMs: 1209600000},
		{Name: "payment.events", DeadLetter: true},
		{Name: "inventory.events"},
	}
}

func orderClients() []ClientSpec {
	return []ClientSpec{
		{Name: "order", Produces: []string{"order.events"}, Consumes: []string{"payment.events", "inventory.events"}},
		{Name: "payment", Produces: []string{"payment.events"}, Consumes: []string{"order.events"}, ConsumerGroup: "payment-v1"},
		{Name: "order-query", Consumes: []string{"order.events", "payment.events"}},
	}
}

func devArgs() *Args {
	return &Args{Brokers: 1, Topics: orderTopics(), Clients: orderClients()}
}

func prodArgs() *Args {
	return &Args{
		Controllers: 3, Brokers: 3, DefaultReplicationFactor: 3, MinInSyncReplicas: 2,
		Storage:   StorageSpec{Type: StoragePersistent, Size: "100Gi", Class: "fast"},
		Resources: Resources{Requests: ResourceList{CPU: "1", Memory: "4Gi"}, Limits: ResourceList{CPU: "2", Memory: "4Gi"}},
		PlainPort: 9094, TLSPort: 9095, UsersNamespace: "orders",
		Topics: orderTopics(), Clients: orderClients(),
	}
}

func run(t *testing.T, args *Args) (*mocks, *Kafka, error) {
	t.Helper()
	m := &mocks{}
	var k *Kafka
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		k, err = NewKafka(ctx, "kafka", args)
		return err
	}, pulumi.WithMocks("ordermesh", "test", m))
	return m, k, err
}

func await[T any](t *testing.T, o pulumi.Output) T {
	t.Helper()
	ch := make(chan T, 1)
	o.ApplyT(func(v T) T { ch <- v; return v })
	return <-ch
}

func TestNewKafkaCreatesDevCluster(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	pools := m.OfType(crType + "KafkaNodePool")
	if len(pools) != 1 {
		t.Fatalf("want 1 node pool, got %d", len(pools))
	}
	spec := pools[0].Inputs["spec"].(map[string]any)
	if spec["replicas"] != 1.0 || len(spec["roles"].([]any)) != 2 || spec["storage"].(map[string]any)["type"] != "ephemeral" {
		t.Errorf("dev pool spec = %v, want 1 dual-role ephemeral node", spec)
	}
	if got := pools[0].Inputs["metadata"].(map[string]any)["labels"].(map[string]any)[ClusterLabel]; got != "ordermesh" {
		t.Errorf("pool cluster label = %v", got)
	}
	kafka, ok := m.cr("Kafka", "ordermesh")
	if !ok {
		t.Fatal("no Kafka resource")
	}
	cfg := kafka["spec"].(map[string]any)["kafka"].(map[string]any)["config"].(map[string]any)
	if cfg["default.replication.factor"] != 1.0 || cfg["min.insync.replicas"] != 1.0 || cfg["auto.create.topics.enable"] != "false" {
		t.Errorf("dev config = %v", cfg)
	}
	// 3 topics + 2 dead-letter topics.
	if n := len(m.OfType(crType + "KafkaTopic")); n != 5 {
		t.Errorf("want 5 topics, got %d", n)
	}
	if n := len(m.OfType(crType + "KafkaUser")); n != 3 {
		t.Errorf("want 3 users, got %d", n)
	}
}

func TestNewKafkaCreatesProdCluster(t *testing.T) {
	m, _, err := run(t, prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		replicas float64
		role     string
	}{"controller": {3, "controller"}, "broker": {3, "broker"}}
	for name, w := range want {
		p, ok := m.cr("KafkaNodePool", name)
		if !ok {
			t.Fatalf("no node pool %q", name)
		}
		spec := p["spec"].(map[string]any)
		roles := spec["roles"].([]any)
		st := spec["storage"].(map[string]any)
		if spec["replicas"] != w.replicas || len(roles) != 1 || roles[0] != w.role {
			t.Errorf("pool %s = %v", name, spec)
		}
		if st["type"] != "persistent-claim" || st["size"] != "100Gi" || st["class"] != "fast" || st["deleteClaim"] != false {
			t.Errorf("pool %s storage = %v", name, st)
		}
		res := spec["resources"].(map[string]any)
		if res["requests"].(map[string]any)["memory"] != "4Gi" || res["limits"].(map[string]any)["cpu"] != "2" {
			t.Errorf("pool %s resources = %v", name, res)
		}
	}
	kafka, _ := m.cr("Kafka", "ordermesh")
	k := kafka["spec"].(map[string]any)["kafka"].(map[string]any)
	cfg := k["config"].(map[string]any)
	if cfg["default.replication.factor"] != 3.0 || cfg["min.insync.replicas"] != 2.0 || cfg["transaction.state.log.min.isr"] != 2.0 {
		t.Errorf("prod config = %v", cfg)
	}
	if k["authorization"].(map[string]any)["type"] != "simple" {
		t.Errorf("authorization = %v", k["authorization"])
	}
	listeners := k["listeners"].([]any)
	tls := listeners[1].(map[string]any)
	if len(listeners) != 2 || tls["tls"] != true || tls["port"] != 9095.0 || tls["authentication"].(map[string]any)["type"] != "tls" {
		t.Errorf("listeners = %v", listeners)
	}
	topic, _ := m.cr("KafkaTopic", "order.events")
	ts := topic["spec"].(map[string]any)
	if ts["replicas"] != 3.0 || ts["config"].(map[string]any)["min.insync.replicas"] != 2.0 || ts["topicName"] != "order.events" {
		t.Errorf("prod topic = %v", ts)
	}
	dlq, _ := m.cr("KafkaTopic", "order.events.dlq")
	dc := dlq["spec"].(map[string]any)["config"].(map[string]any)
	if dc["retention.ms"] != 1209600000.0 || dc["cleanup.policy"] != "delete" {
		t.Errorf("dead-letter topic config = %v", dc)
	}
}

func TestNewKafkaPutsUsersWhereServicesRun(t *testing.T) {
	m, k, err := run(t, prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range m.OfType(crType + "KafkaUser") {
		if ns := u.Inputs["metadata"].(map[string]any)["namespace"]; ns != "orders" {
			t.Errorf("KafkaUser %s in namespace %v, want orders", u.Name, ns)
		}
	}
	kafka, _ := m.cr("Kafka", "ordermesh")
	uo := kafka["spec"].(map[string]any)["entityOperator"].(map[string]any)["userOperator"].(map[string]any)
	if uo["watchedNamespace"] != "orders" {
		t.Errorf("userOperator = %v", uo)
	}
	chart := m.OfType("kubernetes:helm.sh/v4:Chart")[0].Inputs["values"].(map[string]any)
	if w := chart["watchNamespaces"].([]any); len(w) != 1 || w[0] != "orders" {
		t.Errorf("operator watchNamespaces = %v, want [orders]", w)
	}
	if ns := await[string](t, k.UsersNamespace); ns != "orders" {
		t.Errorf("UsersNamespace = %q", ns)
	}
}

func TestNewKafkaInstallsPinnedOperatorChart(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	charts := m.OfType("kubernetes:helm.sh/v4:Chart")
	if len(charts) != 1 {
		t.Fatalf("want 1 chart, got %d", len(charts))
	}
	in := charts[0].Inputs
	if in["chart"] != versions.StrimziOperator.Repo || in["version"] != versions.StrimziOperator.Version || in["namespace"] != "kafka" {
		t.Errorf("chart inputs = %v", in)
	}
	if in["values"].(map[string]any)["watchAnyNamespace"] != false {
		t.Errorf("operator must not watch every namespace: %v", in["values"])
	}
}

func TestNewKafkaWithoutOperatorsCreatesNoCharts(t *testing.T) {
	off := false
	args := prodArgs()
	args.InstallOperators = &off
	m, _, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if strings.Contains(r.Type, "helm") {
			t.Errorf("chart resource %s %s created with InstallOperators=false", r.Type, r.Name)
		}
	}
	if len(m.OfType(crType+"Kafka")) != 1 {
		t.Error("Kafka resource missing")
	}
}

func TestNewKafkaParentsEveryChild(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if r.Type == "ordermesh:kafka:Kafka" {
			continue
		}
		if !strings.HasSuffix(r.Parent, "ordermesh:kafka:Kafka::kafka") {
			t.Errorf("%s %s has parent %q", r.Type, r.Name, r.Parent)
		}
	}
}

func TestNewKafkaOutputs(t *testing.T) {
	_, k, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	if got := await[string](t, k.BootstrapTLS); got != "ordermesh-kafka-bootstrap.kafka.svc:9093" {
		t.Errorf("BootstrapTLS = %q", got)
	}
	if got := await[string](t, k.BootstrapPlain); got != "ordermesh-kafka-bootstrap.kafka.svc:9092" {
		t.Errorf("BootstrapPlain = %q", got)
	}
	topics := await[[]string](t, k.TopicNames)
	if strings.Join(topics, ",") != "order.events,order.events.dlq,payment.events,payment.events.dlq,inventory.events" {
		t.Errorf("TopicNames = %v", topics)
	}
	if s := await[map[string]string](t, k.UserSecrets); s["payment"] != "payment" || len(s) != 3 {
		t.Errorf("UserSecrets = %v", s)
	}
}

func TestACLsForIsLeastPrivilege(t *testing.T) {
	c := ClientSpec{Name: "payment", Produces: []string{"payment.events"}, Consumes: []string{"order.events"}, ConsumerGroup: "payment-v1"}
	got := ACLsFor(c, orderTopics(), ".dlq")
	want := []string{
		"topic order.events literal [Describe Read]",
		"topic order.events.dlq literal [Describe Write]",
		"topic payment.events literal [Describe Write]",
		"group payment-v1 literal [Describe Read]",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ACLs %v, want %v", len(got), got, want)
	}
	for i, a := range got {
		s := a.Resource.Type + " " + a.Resource.Name + " " + a.Resource.PatternType + " [" + strings.Join(a.Operations, " ") + "]"
		if s != want[i] || a.Type != "allow" {
			t.Errorf("ACL %d = %s, want %s", i, s, want[i])
		}
		if strings.Contains(a.Resource.Name, "*") {
			t.Errorf("wildcard ACL %v", a)
		}
	}
}

func TestProducerOnlyClientGetsNoGroupACL(t *testing.T) {
	got := ACLsFor(ClientSpec{Name: "order", Produces: []string{"order.events"}}, orderTopics(), ".dlq")
	if len(got) != 1 || got[0].Resource.Type != "topic" || got[0].Operations[1] != "Write" {
		t.Errorf("ACLs = %v", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		args Args
		want []string
	}{
		{
			name: "replicas above brokers and ISR not below replicas",
			args: Args{Controllers: 3, Brokers: 3, Topics: []TopicSpec{
				{Name: "a", Replicas: 4},
				{Name: "b", Replicas: 3, MinInSyncReplicas: 3},
			}},
			want: []string{"Topics[0].Replicas = 4: must be 1..Brokers (3)", "Topics[1].MinInSyncReplicas = 3: must be below the replication factor 3"},
		},
		{
			name: "even controllers and bad storage",
			args: Args{Controllers: 2, Brokers: 3, Storage: StorageSpec{Type: "nfs"}},
			want: []string{"Controllers = 2", `Storage.Type = "nfs"`},
		},
		{
			name: "even dual-role nodes",
			args: Args{Brokers: 2},
			want: []string{"Brokers = 2: dual-role"},
		},
		{
			name: "client names undeclared and wildcard topics",
			args: Args{Topics: []TopicSpec{{Name: "a"}}, Clients: []ClientSpec{
				{Name: "svc", Produces: []string{"missing"}, Consumes: []string{"*"}},
				{Name: "Bad_Name", Produces: []string{"a"}},
				{Name: "x", Consumes: []string{"a"}, ConsumerGroup: "svc"},
			}},
			want: []string{`Clients[0].Produces[0] = "missing"`, `Clients[0].Consumes[0] = "*"`, `Clients[1].Name = "Bad_Name"`,
				`Clients[2].ConsumerGroup = "svc": is already the group of "svc"`},
		},
		{
			name: "topic problems",
			args: Args{Topics: []TopicSpec{
				{Name: "a*"}, {Name: "x", CleanupPolicy: "forever"}, {Name: "x"}, {Name: "y", DeadLetter: true}, {Name: "y.dlq"},
			}},
			want: []string{`Topics[0].Name = "a*"`, `Topics[1].CleanupPolicy = "forever"`, `Topics[2].Name = "x": is declared twice`, `Topics[4].Name = "y.dlq": is declared twice`},
		},
		{
			name: "ports and quantities",
			args: Args{PlainPort: 9404, TLSPort: 9404, Resources: Resources{Limits: ResourceList{Memory: "4 GB"}}},
			want: []string{"PlainPort = 9404", "TLSPort = 9404: must differ", `Resources.Limits.Memory = "4 GB"`},
		},
		{
			name: "replication factor above brokers",
			args: Args{Brokers: 1, DefaultReplicationFactor: 3, MinInSyncReplicas: 2},
			want: []string{"DefaultReplicationFactor = 3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(&tt.args)
			if err == nil {
				t.Fatal("want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nmissing %q", err, w)
				}
			}
			// NewKafka must refuse the same args before creating anything.
			m, _, runErr := run(t, &tt.args)
			if runErr == nil || len(m.Resources) != 0 {
				t.Errorf("NewKafka: err=%v, %d resources", runErr, len(m.Resources))
			}
		})
	}
}

func TestRenderedResourcesMatchUpstreamCRDs(t *testing.T) {
	dir, err := crdcheck.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdcheck.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string]*Args{"dev": devArgs(), "prod": prodArgs()} {
		t.Run(name, func(t *testing.T) {
			m, _, err := run(t, args)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range m.Resources {
				if !strings.HasPrefix(r.Type, crType) {
					continue
				}
				n++
				for _, e := range set.Validate(r.Inputs) {
					t.Errorf("%s: %v", r.Name, e)
				}
			}
			if n == 0 {
				t.Fatal("no custom resources rendered")
			}
		})
	}
}
