// Package service is the ordermesh microservice component: stable and canary
// Deployments, Service, ServiceAccount, PodDisruptionBudget, HPA, NetworkPolicy
// derived from the declared call graph, Istio AuthorizationPolicy,
// DestinationRule and VirtualService, a PeerAuthentication letting Prometheus
// scrape the metrics port in plaintext, and a ServiceMonitor.
package service

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/customresource"
	"github.com/ordermesh/ordermesh/components/versions"
)

// Label keys used on every object; the selector uses NameLabel (+ VersionLabel for Deployments).
const (
	NameLabel    = "app.kubernetes.io/name"
	VersionLabel = "version"
	// GRPCPortName and MetricsPortName name the Service ports (Istio protocol detection by prefix).
	GRPCPortName    = "grpc"
	MetricsPortName = "http-metrics"
)

// Microservice is one deployed service of the order system.
type Microservice struct {
	pulumi.ResourceState

	// ServiceName is the Kubernetes Service name (equal to the component name).
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// Namespace holds every object of the service.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// ServiceAccountName is the pods' service account (its Istio principal identifies the service).
	ServiceAccountName pulumi.StringOutput `pulumi:"serviceAccountName"`
	// Address is the in-cluster gRPC address host:port.
	Address pulumi.StringOutput `pulumi:"address"`
	// StableDeployment and CanaryDeployment name the Deployments; CanaryDeployment is empty
	// without a canary.
	StableDeployment pulumi.StringOutput `pulumi:"stableDeployment"`
	CanaryDeployment pulumi.StringOutput `pulumi:"canaryDeployment"`
}

// NewMicroservice creates the objects of one microservice in args.Namespace.
func NewMicroservice(ctx *pulumi.Context, name string, args *MicroserviceArgs, opts ...pulumi.ResourceOption) (*Microservice, error) {
	if args == nil {
		return nil, fmt.Errorf("service %q: args are required", name)
	}
	a := args.clone()
	a.applyDefaults()
	if probs := a.validate(name); len(probs) > 0 {
		return nil, fmt.Errorf("service %q: invalid args:\n  %s", name, strings.Join(probs, "\n  "))
	}

	m := &Microservice{}
	if err := ctx.RegisterComponentResource("ordermesh:service:Microservice", name, m, opts...); err != nil {
		return nil, fmt.Errorf("service %q: %w", name, err)
	}
	b := &builder{ctx: ctx, name: name, a: a, parent: pulumi.Parent(m)}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("service %q: %w", name, err)
	}

	canary := ""
	if a.Canary != nil {
		canary = deploymentName(name, "v2")
	}
	m.ServiceName = b.service.Metadata.Name().Elem()
	m.Namespace = pulumi.String(a.Namespace).ToStringOutput()
	m.ServiceAccountName = b.serviceAccount.Metadata.Name().Elem()
	m.Address = pulumi.Sprintf("%s.%s.svc.cluster.local:%d", b.service.Metadata.Name().Elem(), a.Namespace, a.GRPCPort)
	m.StableDeployment = b.stable.Metadata.Name().Elem()
	m.CanaryDeployment = pulumi.String(canary).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"serviceName":        m.ServiceName,
		"namespace":          m.Namespace,
		"serviceAccountName": m.ServiceAccountName,
		"address":            m.Address,
		"stableDeployment":   m.StableDeployment,
		"canaryDeployment":   m.CanaryDeployment,
	}); err != nil {
		return nil, fmt.Errorf("service %q: %w", name, err)
	}
	return m, nil
}

// mountToken reports whether the pods need their service-account token: to call the
// Kubernetes API, or for the Vault agent's Kubernetes-auth login.
func (a *MicroserviceArgs) mountToken() bool { return a.NeedsKubeAPI || a.Vault != nil }

func deploymentName(name, version string) string { return name + "-" + version }

type builder struct {
	ctx    *pulumi.Context
	name   string
	a      *MicroserviceArgs
	parent pulumi.ResourceOption

	serviceAccount *corev1.ServiceAccount
	service        *corev1.Service
	stable         *appsv1.Deployment
}

// labels are the common labels of every object of the service.
func (b *builder) labels() map[string]string {
	return map[string]string{
		NameLabel:                      b.name,
		"app.kubernetes.io/instance":   b.name,
		"app.kubernetes.io/component":  "microservice",
		"app.kubernetes.io/part-of":    b.a.PartOf,
		"app.kubernetes.io/managed-by": "pulumi",
	}
}

func (b *builder) meta(name string, extra map[string]string) *metav1.ObjectMetaArgs {
	l := b.labels()
	for k, v := range extra {
		l[k] = v
	}
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: pulumi.String(b.a.Namespace),
		Labels:    pulumi.ToStringMap(l),
	}
}

func (b *builder) build() error {
	var err error
	b.serviceAccount, err = corev1.NewServiceAccount(b.ctx, b.name, &corev1.ServiceAccountArgs{
		Metadata:                     b.meta(b.name, nil),
		AutomountServiceAccountToken: pulumi.Bool(b.a.mountToken()),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}

	b.stable, err = b.deployment("v1", b.a.Image, b.a.Replicas)
	if err != nil {
		return err
	}
	if c := b.a.Canary; c != nil {
		if _, err := b.deployment("v2", c.Image, c.Replicas); err != nil {
			return err
		}
	}

	b.service, err = corev1.NewService(b.ctx, b.name, &corev1.ServiceArgs{
		Metadata: b.meta(b.name, nil),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: pulumi.StringMap{NameLabel: pulumi.String(b.name)},
			Ports: corev1.ServicePortArray{
				&corev1.ServicePortArgs{Name: pulumi.String(GRPCPortName), Port: pulumi.Int(b.a.GRPCPort), TargetPort: pulumi.Any(GRPCPortName), Protocol: pulumi.String("TCP"), AppProtocol: pulumi.String("grpc")},
				&corev1.ServicePortArgs{Name: pulumi.String(MetricsPortName), Port: pulumi.Int(b.a.MetricsPort), TargetPort: pulumi.Any(MetricsPortName), Protocol: pulumi.String("TCP"), AppProtocol: pulumi.String("http")},
			},
		},
	}, b.parent)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}

	if _, err := policyv1.NewPodDisruptionBudget(b.ctx, b.name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: b.meta(b.name, nil),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MinAvailable: pulumi.Any(b.a.PDBMinAvailable),
			Selector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{NameLabel: pulumi.String(b.name)}},
		},
	}, b.parent); err != nil {
		return fmt.Errorf("pod disruption budget: %w", err)
	}

	if h := b.a.HPA; h != nil {
		if _, err := autoscalingv2.NewHorizontalPodAutoscaler(b.ctx, b.name, &autoscalingv2.HorizontalPodAutoscalerArgs{
			Metadata: b.meta(b.name, nil),
			Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
				ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
					ApiVersion: pulumi.String("apps/v1"),
					Kind:       pulumi.String("Deployment"),
					Name:       b.stable.Metadata.Name().Elem(),
				},
				MinReplicas: pulumi.Int(h.MinReplicas),
				MaxReplicas: pulumi.Int(h.MaxReplicas),
				Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
					Type: pulumi.String("Resource"),
					Resource: &autoscalingv2.ResourceMetricSourceArgs{
						Name: pulumi.String("cpu"),
						Target: &autoscalingv2.MetricTargetArgs{
							Type:               pulumi.String("Utilization"),
							AverageUtilization: pulumi.Int(h.TargetCPUPercent),
						},
					},
				}},
			},
		}, b.parent); err != nil {
			return fmt.Errorf("hpa: %w", err)
		}
	}

	if _, err := newNetworkPolicy(b.ctx, b.name, b.a, b.meta(b.name, nil), b.parent); err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	if b.a.Istio != nil {
		if err := b.istio(); err != nil {
			return err
		}
	}
	if sm := b.a.ServiceMonitor; sm != nil {
		spec := ServiceMonitorSpec{
			Selector:          LabelSelector{MatchLabels: map[string]string{NameLabel: b.name}},
			NamespaceSelector: NamespaceSelector{MatchNames: []string{b.a.Namespace}},
			Endpoints:         []Endpoint{{Port: MetricsPortName, Path: "/metrics", Interval: sm.Interval, Scheme: "http"}},
		}
		if _, err := b.customResource(versions.PrometheusServiceMonitor, b.name, sm.Labels, spec, pulumi.DependsOn([]pulumi.Resource{b.service})); err != nil {
			return fmt.Errorf("service monitor: %w", err)
		}
	}
	return nil
}

func (b *builder) deployment(version, image string, replicas int) (*appsv1.Deployment, error) {
	a := b.a
	selector := map[string]string{NameLabel: b.name, VersionLabel: version}
	podLabels := b.labels()
	podLabels[VersionLabel] = version
	if tag := image[strings.LastIndex(image, ":")+1:]; tag != "" {
		podLabels["app.kubernetes.io/version"] = tag
	}
	annotations := map[string]string{}
	for k, v := range a.PodAnnotations {
		annotations[k] = v
	}
	if len(a.Produces) > 0 {
		annotations["ordermesh.io/produces"] = strings.Join(a.Produces, ",")
	}
	if len(a.Consumes) > 0 {
		annotations["ordermesh.io/consumes"] = strings.Join(a.Consumes, ",")
	}

	env := corev1.EnvVarArray{
		&corev1.EnvVarArgs{Name: pulumi.String("POD_NAME"), ValueFrom: &corev1.EnvVarSourceArgs{FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("metadata.name")}}},
		&corev1.EnvVarArgs{Name: pulumi.String("POD_NAMESPACE"), ValueFrom: &corev1.EnvVarSourceArgs{FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String("metadata.namespace")}}},
		&corev1.EnvVarArgs{Name: pulumi.String("SERVICE_VERSION"), Value: pulumi.String(version)},
	}
	for _, e := range a.Env {
		env = append(env, &corev1.EnvVarArgs{Name: pulumi.String(e.Name), Value: pulumi.String(e.Value)})
	}
	for _, s := range a.Secrets {
		env = append(env, &corev1.EnvVarArgs{Name: pulumi.String(s.Name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(s.SecretName), Key: pulumi.String(s.Key)},
		}})
	}

	grpcProbe := func(period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			Grpc:             &corev1.GRPCActionArgs{Port: pulumi.Int(a.GRPCPort)},
			PeriodSeconds:    pulumi.Int(period),
			TimeoutSeconds:   pulumi.Int(2),
			FailureThreshold: pulumi.Int(failures),
		}
	}
	var spread corev1.TopologySpreadConstraintArray
	if a.ZoneSpread != ZoneSpreadNone {
		when := "ScheduleAnyway"
		if a.ZoneSpread == ZoneSpreadRequired {
			when = "DoNotSchedule"
		}
		spread = corev1.TopologySpreadConstraintArray{&corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String("topology.kubernetes.io/zone"),
			WhenUnsatisfiable: pulumi.String(when),
			LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
		}}
	}

	name := deploymentName(b.name, version)
	meta := b.meta(name, map[string]string{VersionLabel: version})
	opts := []pulumi.ResourceOption{b.parent}
	if a.HPA != nil && version == "v1" {
		// Replicas start at the configured count; afterwards the HPA owns them and an
		// update must not scale the Deployment back.
		opts = append(opts, pulumi.IgnoreChanges([]string{"spec.replicas"}))
	}
	d, err := appsv1.NewDeployment(b.ctx, name, &appsv1.DeploymentArgs{
		Metadata: meta,
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			Strategy: &appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Any(0),
					MaxSurge:       pulumi.Any(1),
				},
			},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels:      pulumi.ToStringMap(podLabels),
					Annotations: pulumi.ToStringMap(annotations),
				},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           b.serviceAccount.Metadata.Name().Elem(),
					AutomountServiceAccountToken: pulumi.Bool(a.mountToken()),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						RunAsUser:      pulumi.Int(DefaultRunAsUser),
						RunAsGroup:     pulumi.Int(DefaultRunAsUser),
						FsGroup:        pulumi.Int(DefaultRunAsUser),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					TopologySpreadConstraints: spread,
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:            pulumi.String(b.name),
						Image:           pulumi.String(image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Ports: corev1.ContainerPortArray{
							&corev1.ContainerPortArgs{Name: pulumi.String(GRPCPortName), ContainerPort: pulumi.Int(a.GRPCPort), Protocol: pulumi.String("TCP")},
							&corev1.ContainerPortArgs{Name: pulumi.String(MetricsPortName), ContainerPort: pulumi.Int(a.MetricsPort), Protocol: pulumi.String("TCP")},
						},
						Env: env,
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String(a.Resources.Requests.CPU), "memory": pulumi.String(a.Resources.Requests.Memory)},
							Limits:   pulumi.StringMap{"cpu": pulumi.String(a.Resources.Limits.CPU), "memory": pulumi.String(a.Resources.Limits.Memory)},
						},
						StartupProbe:   grpcProbe(2, 30),
						ReadinessProbe: grpcProbe(5, 3),
						LivenessProbe:  grpcProbe(10, 3),
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							RunAsNonRoot:             pulumi.Bool(true),
							Privileged:               pulumi.Bool(false),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
							SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
						},
						// The root filesystem is read-only; /tmp is the only writable path.
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
						Name:     pulumi.String("tmp"),
						EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
					}},
				},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", version, err)
	}
	return d, nil
}

func (b *builder) host() string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", b.name, b.a.Namespace)
}

func (b *builder) istio() error {
	a, m := b.a, b.a.Istio
	if _, err := b.customResource(versions.IstioAuthorizationPolicy, b.name, nil, authorizationPolicy(b.name, a), b.parent); err != nil {
		return fmt.Errorf("authorization policy: %w", err)
	}
	if a.Scrapers != nil {
		// Prometheus has no sidecar and scrapes in plaintext, which STRICT mTLS would refuse:
		// relax the metrics port only, the rest inherits the mesh-wide mode.
		pa := PeerAuthenticationSpec{
			Selector:      &WorkloadSelector{MatchLabels: map[string]string{NameLabel: b.name}},
			PortLevelMtls: map[string]MTLS{strconv.Itoa(a.MetricsPort): {Mode: "PERMISSIVE"}},
		}
		if _, err := b.customResource(versions.IstioPeerAuthentication, b.name, nil, pa, b.parent); err != nil {
			return fmt.Errorf("peer authentication: %w", err)
		}
	}

	subsets := []Subset{{Name: "v1", Labels: map[string]string{VersionLabel: "v1"}}}
	if a.Canary != nil {
		subsets = append(subsets, Subset{Name: "v2", Labels: map[string]string{VersionLabel: "v2"}})
	}
	dr := DestinationRuleSpec{
		Host: b.host(),
		TrafficPolicy: TrafficPolicy{
			ConnectionPool: ConnectionPool{
				TCP:  TCPPool{MaxConnections: m.MaxConnections, ConnectTimeout: "2s"},
				HTTP: HTTPPool{HTTP1MaxPendingRequests: m.HTTP1MaxPendingRequests, HTTP2MaxRequests: m.HTTP2MaxRequests},
			},
			OutlierDetection: OutlierDetection{
				Consecutive5xxErrors: m.Consecutive5xxErrors,
				Interval:             m.OutlierInterval,
				BaseEjectionTime:     m.BaseEjectionTime,
				MaxEjectionPercent:   m.MaxEjectionPercent,
			},
			TLS: &ClientTLS{Mode: "ISTIO_MUTUAL"},
		},
		Subsets: subsets,
	}
	if _, err := b.customResource(versions.IstioDestinationRule, b.name, nil, dr, b.parent); err != nil {
		return fmt.Errorf("destination rule: %w", err)
	}
	if _, err := b.customResource(versions.IstioVirtualService, b.name, nil, virtualService(b.host(), a), b.parent); err != nil {
		return fmt.Errorf("virtual service: %w", err)
	}
	return nil
}

// authorizationPolicy allows the declared callers' principals on the gRPC port (and methods,
// when given) and the metrics path on the metrics port; Istio denies everything else once an
// ALLOW policy selects the workload.
func authorizationPolicy(name string, a *MicroserviceArgs) AuthorizationPolicySpec {
	spec := AuthorizationPolicySpec{
		Selector: &WorkloadSelector{MatchLabels: map[string]string{NameLabel: name}},
		Action:   "ALLOW",
	}
	if len(a.Callers) > 0 {
		var principals []string
		for _, c := range a.Callers {
			principals = append(principals, principal(a.Istio.TrustDomain, c))
		}
		spec.Rules = append(spec.Rules, AuthzRule{
			From: []AuthzFrom{{Source: AuthzSource{Principals: principals}}},
			To:   []AuthzTo{{Operation: AuthzOperation{Ports: []string{strconv.Itoa(a.GRPCPort)}, Paths: a.Methods}}},
		})
	}
	// Prometheus scrapes without a sidecar, so it has no principal: the metrics path is
	// open at L7 and restricted to the scrapers' namespace by the NetworkPolicy.
	spec.Rules = append(spec.Rules, AuthzRule{
		To: []AuthzTo{{Operation: AuthzOperation{Ports: []string{strconv.Itoa(a.MetricsPort)}, Methods: []string{"GET"}, Paths: []string{"/metrics"}}}},
	})
	return spec
}

// virtualService routes requests with header canary: "true" to v2 and splits the rest by
// weight; without a canary everything goes to v1.
func virtualService(host string, a *MicroserviceArgs) VirtualServiceSpec {
	dest := func(subset string) Destination {
		return Destination{Host: host, Subset: subset, Port: &PortSelector{Number: a.GRPCPort}}
	}
	if a.Canary == nil {
		return VirtualServiceSpec{Hosts: []string{host}, HTTP: []HTTPRoute{{Name: "stable", Route: []RouteDestination{{Destination: dest("v1")}}}}}
	}
	stable, canary := a.Canary.StableWeight, a.Canary.CanaryWeight
	return VirtualServiceSpec{
		Hosts: []string{host},
		HTTP: []HTTPRoute{
			{
				Name:  "canary-header",
				Match: []HTTPMatch{{Headers: map[string]StringMatch{"canary": {Exact: "true"}}}},
				Route: []RouteDestination{{Destination: dest("v2")}},
			},
			{
				Name: "weighted",
				Route: []RouteDestination{
					{Destination: dest("v1"), Weight: &stable},
					{Destination: dest("v2"), Weight: &canary},
				},
			},
		},
	}
}

// customResource creates a custom resource from a typed spec.
func (b *builder) customResource(gvk versions.APIVersion, name string, extraLabels map[string]string, spec any, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	untyped, err := customresource.Untyped(spec)
	if err != nil {
		return nil, err
	}
	return apiextensions.NewCustomResource(b.ctx, name+"-"+strings.ToLower(gvk.Kind), &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(gvk.APIVersion),
		Kind:        pulumi.String(gvk.Kind),
		Metadata:    b.meta(name, extraLabels),
		OtherFields: kubernetes.UntypedArgs{"spec": untyped},
	}, append([]pulumi.ResourceOption{b.parent}, opts...)...)
}
