// Package observability deploys metrics (kube-prometheus-stack), tracing
// (Jaeger v2 or Tempo behind an OpenTelemetry Collector), Grafana dashboards
// generated from Go, scrape configuration for Kafka and the mesh, and SLO
// alert rules.
package observability

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/customresource"
	"github.com/ordermesh/ordermesh/components/versions"
)

// CollectorServiceName is the OpenTelemetry Collector's Service name in
// Namespace (fixed through the chart's fullnameOverride).
const CollectorServiceName = "otel-collector"

// Release-independent names (fullnameOverride) so other components can
// address the services.
const (
	promFullname      = "kps"
	collectorFullname = CollectorServiceName
	jaegerFullname    = "jaeger"
	tempoFullname     = "tempo"
	otlpGRPCPort      = 4317
	otlpHTTPPort      = 4318
)

// Observability is the deployed observability stack.
type Observability struct {
	pulumi.ResourceState

	// OTelCollectorHost is the collector's Service host name (for the mesh).
	OTelCollectorHost pulumi.StringOutput `pulumi:"otelCollectorHost"`
	// OTelCollectorPort is its OTLP gRPC port (for the mesh).
	OTelCollectorPort pulumi.IntOutput `pulumi:"otelCollectorPort"`
	// OTLPGRPCEndpoint is host:port services export traces to.
	OTLPGRPCEndpoint pulumi.StringOutput `pulumi:"otlpGrpcEndpoint"`
	// OTLPHTTPEndpoint is the OTLP/HTTP URL.
	OTLPHTTPEndpoint pulumi.StringOutput `pulumi:"otlpHttpEndpoint"`
	// PrometheusURL is the in-cluster Prometheus API (e.g. for Flagger).
	PrometheusURL pulumi.StringOutput `pulumi:"prometheusUrl"`
	// DashboardUIDs lists the provisioned Grafana dashboards.
	DashboardUIDs pulumi.StringArrayOutput `pulumi:"dashboardUids"`
}

// NewObservability creates the stack. Pass the Kubernetes provider in opts.
func NewObservability(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Observability, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	o := &Observability{}
	if err := ctx.RegisterComponentResource("ordermesh:observability:Observability", name, o, opts...); err != nil {
		return nil, fmt.Errorf("observability: register component: %w", err)
	}
	parent := pulumi.Parent(o)
	crOpts := []pulumi.ResourceOption{parent}
	if a.installOperators() {
		kps, err := a.installCharts(ctx, name, parent)
		if err != nil {
			return nil, err
		}
		crOpts = append(crOpts, pulumi.DependsOn([]pulumi.Resource{kps}))
	}

	dashboards := a.Dashboards()
	uids := pulumi.StringArray{}
	for _, d := range dashboards {
		js, err := d.JSON()
		if err != nil {
			return nil, fmt.Errorf("observability: %w", err)
		}
		if _, err := corev1.NewConfigMap(ctx, name+"-dashboard-"+d.UID, &corev1.ConfigMapArgs{
			Metadata: metav1.ObjectMetaArgs{
				Name:      pulumi.String(d.UID),
				Namespace: pulumi.String(a.Namespace),
				Labels:    pulumi.StringMap{DashboardLabel: pulumi.String("1")},
			},
			Data: pulumi.StringMap{d.UID + ".json": pulumi.String(js)},
		}, parent); err != nil {
			return nil, fmt.Errorf("observability: dashboard %s: %w", d.UID, err)
		}
		uids = append(uids, pulumi.String(d.UID))
	}

	for _, obj := range a.render() {
		if _, err := customresource.New(ctx, name+"-"+obj.ResourceName, obj, crOpts...); err != nil {
			return nil, fmt.Errorf("observability: %s %s: %w", obj.Kind, obj.Name, err)
		}
	}

	host := a.collectorHost()
	o.OTelCollectorHost = pulumi.String(host).ToStringOutput()
	o.OTelCollectorPort = pulumi.Int(a.CollectorPort).ToIntOutput()
	o.OTLPGRPCEndpoint = pulumi.Sprintf("%s:%d", host, a.CollectorPort)
	o.OTLPHTTPEndpoint = pulumi.Sprintf("http://%s:%d", host, otlpHTTPPort)
	o.PrometheusURL = pulumi.Sprintf("http://%s-prometheus.%s.svc.cluster.local:9090", promFullname, a.Namespace)
	o.DashboardUIDs = uids.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(o, pulumi.Map{
		"otelCollectorHost": o.OTelCollectorHost,
		"otelCollectorPort": o.OTelCollectorPort,
		"otlpGrpcEndpoint":  o.OTLPGRPCEndpoint,
		"otlpHttpEndpoint":  o.OTLPHTTPEndpoint,
		"prometheusUrl":     o.PrometheusURL,
		"dashboardUids":     o.DashboardUIDs,
	}); err != nil {
		return nil, fmt.Errorf("observability: register outputs: %w", err)
	}
	return o, nil
}

func (a *Args) collectorHost() string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", collectorFullname, a.Namespace)
}

// tracingBackend returns the chart, its values, the host the collector
// exports OTLP to, and the Grafana data source for the chosen backend.
func (a *Args) tracingBackend() (versions.Chart, pulumi.Map, string, pulumi.Map) {
	if a.TracingBackend == TracingTempo {
		host := fmt.Sprintf("%s.%s.svc.cluster.local", tempoFullname, a.Namespace)
		return versions.Tempo, pulumi.Map{
				"fullnameOverride": pulumi.String(tempoFullname),
				"tempo": pulumi.Map{"receivers": pulumi.Map{"otlp": pulumi.Map{"protocols": pulumi.Map{
					"grpc": pulumi.Map{"endpoint": pulumi.Sprintf("0.0.0.0:%d", otlpGRPCPort)},
				}}}},
			}, host, pulumi.Map{
				"name": pulumi.String("Tempo"), "type": pulumi.String("tempo"), "uid": pulumi.String("tempo"),
				"access": pulumi.String("proxy"), "url": pulumi.Sprintf("http://%s:3200", host),
			}
	}
	host := fmt.Sprintf("%s.%s.svc.cluster.local", jaegerFullname, a.Namespace)
	return versions.Jaeger, pulumi.Map{"fullnameOverride": pulumi.String(jaegerFullname)}, host, pulumi.Map{
		"name": pulumi.String("Jaeger"), "type": pulumi.String("jaeger"), "uid": pulumi.String("jaeger"),
		"access": pulumi.String("proxy"), "url": pulumi.Sprintf("http://%s:16686", host),
	}
}

// installCharts installs the charts and returns kube-prometheus-stack,
// which ships the CRDs the monitors and rules need.
func (a *Args) installCharts(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (pulumi.Resource, error) {
	chart := func(suffix string, c versions.Chart, values pulumi.Map) (*helmv4.Chart, error) {
		ch, err := helmv4.NewChart(ctx, name+"-"+suffix, &helmv4.ChartArgs{
			Name:           pulumi.String(c.Name),
			Chart:          pulumi.String(c.Name),
			Version:        pulumi.String(c.Version),
			RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(c.Repo)},
			Namespace:      pulumi.String(a.Namespace),
			Values:         values,
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("observability: %s chart: %w", c.Name, err)
		}
		return ch, nil
	}
	traceChart, traceValues, traceHost, traceDS := a.tracingBackend()
	grafana := pulumi.Map{
		"sidecar": pulumi.Map{"dashboards": pulumi.Map{
			"enabled":         pulumi.Bool(true),
			"label":           pulumi.String(DashboardLabel),
			"labelValue":      pulumi.String("1"),
			"searchNamespace": pulumi.String("ALL"),
		}},
		"additionalDataSources": pulumi.Array{traceDS},
	}
	if a.GrafanaAdminPassword != nil {
		grafana["adminPassword"] = pulumi.ToSecret(a.GrafanaAdminPassword)
	}
	kps, err := chart("kube-prometheus-stack", versions.KubePrometheusStack, pulumi.Map{
		"fullnameOverride": pulumi.String(promFullname),
		"alertmanager": pulumi.Map{
			"enabled":          pulumi.Bool(true),
			"alertmanagerSpec": pulumi.Map{"replicas": pulumi.Int(a.AlertmanagerReplicas)},
		},
		"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
			"replicas":  pulumi.Int(a.PrometheusReplicas),
			"retention": pulumi.String(a.PrometheusRetention),
			// Select every ServiceMonitor/PodMonitor/rule, not only the chart's.
			"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
			"podMonitorSelectorNilUsesHelmValues":     pulumi.Bool(false),
			"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
			"probeSelectorNilUsesHelmValues":          pulumi.Bool(false),
		}},
		"grafana": grafana,
	})
	if err != nil {
		return nil, err
	}
	if _, err := chart(traceChart.Name, traceChart, traceValues); err != nil {
		return nil, err
	}
	if _, err := chart("otel-collector", versions.OTelCollector, pulumi.Map{
		"fullnameOverride": pulumi.String(collectorFullname),
		"mode":             pulumi.String("deployment"),
		"replicaCount":     pulumi.Int(a.CollectorReplicas),
		"image":            pulumi.Map{"repository": pulumi.String("otel/opentelemetry-collector-k8s")},
		"ports": pulumi.Map{"otlp": pulumi.Map{
			"containerPort": pulumi.Int(otlpGRPCPort), "servicePort": pulumi.Int(a.CollectorPort),
		}},
		"config": pulumi.Map{
			"exporters": pulumi.Map{"otlp/traces": pulumi.Map{
				"endpoint": pulumi.Sprintf("%s:%d", traceHost, otlpGRPCPort),
				"tls":      pulumi.Map{"insecure": pulumi.Bool(true)},
			}},
			"service": pulumi.Map{"pipelines": pulumi.Map{"traces": pulumi.Map{
				"receivers":  pulumi.ToStringArray([]string{"otlp"}),
				"processors": pulumi.ToStringArray([]string{"memory_limiter", "batch"}),
				"exporters":  pulumi.ToStringArray([]string{"otlp/traces"}),
			}}},
		},
	}); err != nil {
		return nil, err
	}
	return kps, nil
}

// Object is one custom resource the component creates.
type Object = customresource.Object

// Render applies defaults, validates and returns the monitors and rules
// NewObservability would create (dashboards come from Dashboards).
func Render(args *Args) ([]Object, error) {
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a.render(), nil
}

// render returns scrape configuration for Kafka, the sidecars and istiod,
// and the SLO rules; all live in Namespace and select targets elsewhere.
func (a *Args) render() []Object {
	obj := func(rn string, v versions.APIVersion, spec any) Object {
		return Object{ResourceName: rn, APIVersion: v.APIVersion, Kind: v.Kind, Name: rn, Namespace: a.Namespace, Spec: spec}
	}
	return []Object{
		obj("kafka-resources", versions.PrometheusPodMonitor, podMonitorSpec{
			// Brokers, controllers and the Kafka Exporter all carry this label.
			Selector: labelSelector{MatchExpressions: []matchExpression{
				{Key: "strimzi.io/kind", Operator: "In", Values: []string{"Kafka"}},
			}},
			NamespaceSelector:   namespaceSelector{MatchNames: []string{a.KafkaNamespace}},
			PodMetricsEndpoints: []podMetricEndpoint{{Port: "tcp-prometheus", Path: "/metrics"}},
		}),
		obj("envoy-stats", versions.PrometheusPodMonitor, podMonitorSpec{
			Selector: labelSelector{MatchExpressions: []matchExpression{
				{Key: "security.istio.io/tlsMode", Operator: "Exists"},
			}},
			NamespaceSelector:   namespaceSelector{Any: true},
			PodMetricsEndpoints: []podMetricEndpoint{{Port: "http-envoy-prom", Path: "/stats/prometheus", Interval: "15s"}},
		}),
		obj("istiod", versions.PrometheusServiceMonitor, serviceMonitorSpec{
			Selector:          labelSelector{MatchLabels: map[string]string{"istio": "pilot"}},
			NamespaceSelector: namespaceSelector{MatchNames: []string{a.IstioNamespace}},
			Endpoints:         []endpoint{{Port: "http-monitoring", Interval: "15s"}},
		}),
		obj("ordermesh-slos", versions.PrometheusRule, prometheusRuleSpec{
			Groups: []ruleGroup{{Name: "ordermesh.slo", Rules: a.AlertRules()}},
		}),
	}
}
