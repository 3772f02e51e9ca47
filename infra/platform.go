package main

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/ordermesh/ordermesh/components/kafka"
	"github.com/ordermesh/ordermesh/components/mesh"
	"github.com/ordermesh/ordermesh/components/observability"
	"github.com/ordermesh/ordermesh/components/service"
	"github.com/ordermesh/ordermesh/components/vault"
	"github.com/ordermesh/ordermesh/stacks"
)

// kafkaArgs maps the stack's Kafka settings and the services' declared
// topics to the Kafka component.
func kafkaArgs(cfg *stacks.Config) *kafka.Args {
	k := cfg.Kafka
	install := cfg.Operators.InstallCharts()
	a := &kafka.Args{
		Namespace:                cfg.Namespaces.Kafka,
		UsersNamespace:           cfg.Namespaces.Apps, // user certificates land beside the pods
		WatchNamespaces:          []string{cfg.Namespaces.Apps},
		InstallOperators:         &install,
		ClusterName:              k.ClusterName,
		Brokers:                  k.Brokers,
		DefaultReplicationFactor: k.Replication,
		MinInSyncReplicas:        k.MinInsyncReplicas,
		RetentionHours:           k.RetentionHours,
		PlainPort:                k.Port,
		DeadLetterSuffix:         stacks.DLQSuffix,
		Resources: kafka.Resources{
			Requests: kafka.ResourceList{CPU: k.Resources.Requests.CPU, Memory: k.Resources.Requests.Memory},
			Limits:   kafka.ResourceList{CPU: k.Resources.Limits.CPU, Memory: k.Resources.Limits.Memory},
		},
	}
	if !k.DualRole {
		a.Controllers = k.Controllers
	}
	if cfg.Profile == stacks.Dev {
		a.Storage = kafka.StorageSpec{Type: kafka.StorageEphemeral}
	} else {
		a.Storage = kafka.StorageSpec{Type: kafka.StoragePersistent, Size: k.StorageSize}
	}
	for _, t := range k.Topics {
		a.Topics = append(a.Topics, kafka.TopicSpec{
			Name:              t,
			Partitions:        k.Partitions,
			Replicas:          k.Replication,
			MinInSyncReplicas: k.MinInsyncReplicas,
			RetentionMs:       int64(k.RetentionHours) * int64(time.Hour/time.Millisecond),
			DeadLetter:        true,
		})
	}
	for _, name := range cfg.SortedServiceNames() {
		s := cfg.Services[name]
		a.Clients = append(a.Clients, kafka.ClientSpec{Name: name, Produces: s.Produces, Consumes: s.Consumes})
	}
	return a
}

func meshArgs(cfg *stacks.Config) *mesh.Args {
	install := cfg.Operators.InstallCharts()
	sampling := cfg.Mesh.TracingSampling
	order := cfg.Services[stacks.OrderService]
	return &mesh.Args{
		Namespace:              cfg.Namespaces.Mesh,
		GatewayNamespace:       cfg.Namespaces.Ingress,
		InstallOperators:       &install,
		AppNamespaces:          []string{cfg.Namespaces.Apps},
		MTLSMode:               cfg.Mesh.MTLSMode,
		JWT:                    mesh.JWT{Issuer: cfg.Mesh.JWT.Issuer, JWKSURI: cfg.Mesh.JWT.JWKSURI},
		TracingSamplingPercent: &sampling,
		OTelCollectorHost:      collectorHost(cfg),
		OTelCollectorPort:      cfg.Observability.CollectorPort,
		IngressHost:            cfg.Mesh.IngressHost,
		OrderAPI:               mesh.Destination{Service: stacks.OrderService, Namespace: cfg.Namespaces.Apps, Port: order.GRPCPort, CanaryWeight: canaryWeight(order)},
		GatewayServiceType:     cfg.Mesh.IngressServiceType,
	}
}

// canaryWeight is the share of traffic a service's canary gets (0: none).
func canaryWeight(s stacks.Service) int {
	if !s.Canary.Enabled {
		return 0
	}
	return s.Canary.Weight
}

// collectorHost is the in-cluster name of the OTel collector Service.
func collectorHost(cfg *stacks.Config) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", observability.CollectorServiceName, cfg.Namespaces.Observability)
}

func observabilityArgs(cfg *stacks.Config) *observability.Args {
	install := cfg.Operators.InstallCharts()
	o := cfg.Observability
	return &observability.Args{
		Namespace:           cfg.Namespaces.Observability,
		InstallOperators:    &install,
		PrometheusRetention: o.Retention,
		CollectorPort:       o.CollectorPort,
		TracingBackend:      o.TracingBackend,
		AppNamespaces:       []string{cfg.Namespaces.Apps},
		KafkaNamespace:      cfg.Namespaces.Kafka,
		IstioNamespace:      cfg.Namespaces.Mesh,
		OrderService:        stacks.OrderService,
		DeadLetterSuffix:    stacks.DLQSuffix,
		SLOs: observability.SLOs{
			SagaSuccessRatio:    o.SLO.SagaSuccessRatio,
			OrderAPIP99:         time.Duration(o.SLO.OrderAPIP99Ms) * time.Millisecond,
			ConsumerLag:         o.SLO.ConsumerLagMax,
			DeadLetterPerMinute: o.SLO.DeadLetterRatePerMin,
		},
	}
}

func vaultArgs(cfg *stacks.Config, adminToken pulumi.StringInput) *vault.Args {
	install := cfg.Operators.InstallCharts()
	v := cfg.Vault
	a := &vault.Args{
		Profile:          vault.Profile(cfg.Profile),
		Distribution:     vault.Distribution(v.Flavor),
		Namespace:        cfg.Namespaces.Vault,
		InstallOperators: &install,
		StorageSize:      v.StorageSize,
		AdminToken:       adminToken,
	}
	if v.HA {
		a.HAReplicas = v.Replicas
	}
	for _, name := range cfg.SortedServiceNames() {
		if cfg.Services[name].NeedsVault {
			a.Services = append(a.Services, vault.Service{Name: name, Namespace: cfg.Namespaces.Apps})
		}
	}
	return a
}

// serviceEnv is how every service finds the platform: the Kafka bootstrap
// servers and the OTel collector (apps/README.md lists the variables).
func serviceEnv(cfg *stacks.Config) map[string][]service.EnvVar {
	brokers, _ := kafka.BootstrapAddresses(kafkaArgs(cfg))
	out := map[string][]service.EnvVar{}
	for _, name := range cfg.SortedServiceNames() {
		env := []service.EnvVar{{Name: "ORDERMESH_KAFKA_BROKERS", Value: brokers}}
		if cfg.Observability.Enabled {
			env = append(env, service.EnvVar{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: fmt.Sprintf("http://%s:%d", collectorHost(cfg), cfg.Observability.CollectorPort)})
		}
		out[name] = env
	}
	return out
}

// vaultSecretPaths are the secrets (below each service's Vault prefix) the
// agent injector renders into a service's pods.
var vaultSecretPaths = map[string][]string{
	stacks.PaymentService: {"gateway"},
}

// platform is what the services need from the platform components.
type platform struct {
	vault *vault.Vault
}

// newPlatform creates Kafka, the mesh, Vault and observability after the
// namespaces they live in.
func newPlatform(ctx *pulumi.Context, cfg *stacks.Config, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*platform, error) {
	opts = append(opts, pulumi.DependsOn(deps))
	k, err := kafka.NewKafka(ctx, "kafka", kafkaArgs(cfg), opts...)
	if err != nil {
		return nil, err
	}
	ctx.Export("kafkaBootstrap", k.BootstrapPlain)
	ctx.Export("kafkaTopics", k.TopicNames)

	if cfg.Mesh.Enabled {
		if _, err := mesh.NewMesh(ctx, "mesh", meshArgs(cfg), opts...); err != nil {
			return nil, err
		}
	}
	var adminToken pulumi.StringInput
	if tok, err := config.New(ctx, stacks.Namespace).TrySecret("vaultAdminToken"); err == nil {
		adminToken = tok
	}
	v, err := vault.NewVault(ctx, "vault", vaultArgs(cfg, adminToken), opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Observability.Enabled {
		if _, err := observability.NewObservability(ctx, "observability", observabilityArgs(cfg), opts...); err != nil {
			return nil, err
		}
	}
	return &platform{vault: v}, nil
}

// newServices deploys the namespace baseline and every configured service.
func newServices(ctx *pulumi.Context, cfg *stacks.Config, p *platform, deps []pulumi.Resource, opts ...pulumi.ResourceOption) error {
	opts = append(opts, pulumi.DependsOn(deps))
	// The mesh component owns the namespace's allow-nothing
	// AuthorizationPolicy; this adds the default-deny NetworkPolicy.
	if _, err := service.NewNamespacePolicies(ctx, cfg.Namespaces.Apps, &service.NamespacePoliciesArgs{
		Namespace: cfg.Namespaces.Apps,
	}, opts...); err != nil {
		return err
	}
	annotations := map[string]map[string]string{}
	for _, name := range cfg.SortedServiceNames() {
		if !cfg.Services[name].NeedsVault {
			continue
		}
		a, err := p.vault.Annotations(name, vaultSecretPaths[name]...)
		if err != nil {
			return err
		}
		annotations[name] = a
	}
	env := serviceEnv(cfg)
	for _, name := range cfg.SortedServiceNames() {
		args, err := service.ArgsFromConfig(cfg, name, service.Platform{PodAnnotations: annotations, Env: env})
		if err != nil {
			return err
		}
		if _, err := service.NewMicroservice(ctx, name, args, opts...); err != nil {
			return err
		}
	}
	return nil
}
