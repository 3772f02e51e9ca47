// Package vault deploys HashiCorp Vault (or OpenBao) with the agent
// injector from the upstream Helm chart and configures it for the ordermesh
// services: Kubernetes auth, a KV v2 mount, one read-only policy and one
// role per service, and create-only seed secrets.
//
// The configuration is a typed Plan (see plan.go) rendered into a shell
// script that a Kubernetes Job runs with the CLI of the server's own image.
// The Job is named after a hash of the script, so Pulumi runs a new Job
// exactly when the configuration changes; every step is idempotent and the
// prune steps delete managed policies and roles that are no longer declared.
package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/versions"
)

// Vault is the component. Its plain Go fields are known at program
// construction, so service components can use them directly.
type Vault struct {
	pulumi.ResourceState

	// Address is where clients in the cluster reach the server.
	Address pulumi.StringOutput `pulumi:"address"`
	// KVMount is the KV v2 mount holding service secrets.
	KVMount pulumi.StringOutput `pulumi:"kvMount"`
	// AuthPath is the Kubernetes auth mount path.
	AuthPath pulumi.StringOutput `pulumi:"authPath"`
	// Roles maps service name to its Kubernetes auth role.
	Roles pulumi.StringMapOutput `pulumi:"roles"`
	// ConfigJobName is the configuration Job's name ("" when Configure is
	// false).
	ConfigJobName pulumi.StringOutput `pulumi:"configJobName"`

	args  Args
	roles map[string]string
}

// ChartFor returns the pinned chart of a distribution.
func ChartFor(d Distribution) versions.Chart {
	if d == DistributionOpenBao {
		return versions.OpenBao
	}
	return versions.Vault
}

// defaultConfigImage is the server image of the pinned chart's app version,
// so the Job's CLI matches the server it configures.
func defaultConfigImage(d Distribution) string {
	if d == DistributionOpenBao {
		return "quay.io/openbao/openbao:" + versions.OpenBao.AppVersion
	}
	return "hashicorp/vault:" + versions.Vault.AppVersion
}

func cliName(d Distribution) string {
	if d == DistributionOpenBao {
		return "bao"
	}
	return "vault"
}

// NewVault installs the chart (unless InstallOperators is false) and runs
// the configuration Job (unless Configure is false).
func NewVault(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Vault, error) {
	if args == nil {
		args = &Args{}
	}
	a := args.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	plan, err := buildPlan(a)
	if err != nil {
		return nil, err
	}
	script, err := RenderScript(plan)
	if err != nil {
		return nil, err
	}

	v := &Vault{args: a, roles: map[string]string{}}
	if err := ctx.RegisterComponentResource("ordermesh:vault:Vault", name, v, opts...); err != nil {
		return nil, fmt.Errorf("vault: register %q: %w", name, err)
	}
	parent := pulumi.Parent(v)

	var deps []pulumi.Resource
	if *a.InstallOperators {
		values, err := buildValues(a).toMap()
		if err != nil {
			return nil, err
		}
		chart := ChartFor(a.Distribution)
		rel, err := helmv4.NewChart(ctx, name, &helmv4.ChartArgs{
			Name:           pulumi.String(a.ReleaseName),
			Namespace:      pulumi.String(a.Namespace),
			Chart:          pulumi.String(chart.Name),
			Version:        pulumi.String(chart.Version),
			RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(chart.Repo)},
			Values:         values,
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("vault: chart %s %s: %w", chart.Name, chart.Version, err)
		}
		deps = append(deps, rel)
	}

	jobName := pulumi.String("").ToStringOutput()
	if *a.Configure {
		job, err := newConfigJob(ctx, name, a, script, parent, pulumi.DependsOn(deps))
		if err != nil {
			return nil, err
		}
		jobName = job.Metadata.Name().Elem()
	}

	for _, s := range a.Services {
		v.roles[s.Name] = PolicyName(a.NamePrefix, s.Name)
	}
	v.Address = pulumi.String(a.Address).ToStringOutput()
	v.KVMount = pulumi.String(a.KVMount).ToStringOutput()
	v.AuthPath = pulumi.String(a.AuthPath).ToStringOutput()
	v.Roles = pulumi.ToStringMap(v.roles).ToStringMapOutput()
	v.ConfigJobName = jobName
	if err := ctx.RegisterResourceOutputs(v, pulumi.Map{
		"address":       v.Address,
		"kvMount":       v.KVMount,
		"authPath":      v.AuthPath,
		"roles":         v.Roles,
		"configJobName": v.ConfigJobName,
	}); err != nil {
		return nil, fmt.Errorf("vault: register outputs: %w", err)
	}
	return v, nil
}

// Role returns the Kubernetes auth role of a declared service.
func (v *Vault) Role(service string) (string, error) {
	r, ok := v.roles[service]
	if !ok {
		return "", fmt.Errorf("vault: service %q is not declared in Args.Services", service)
	}
	return r, nil
}

// Annotations returns the injector annotations for a declared service that
// render each of its secrets (paths below the service's prefix, e.g. "db")
// to /vault/secrets/<last path segment with '/' as '-'>.
func (v *Vault) Annotations(service string, secretPaths ...string) (map[string]string, error) {
	role, err := v.Role(service)
	if err != nil {
		return nil, err
	}
	secrets := make([]InjectedSecret, 0, len(secretPaths))
	for _, p := range secretPaths {
		secrets = append(secrets, InjectedSecret{File: strings.ReplaceAll(p, "/", "-"), Path: ServiceSecretPrefix(v.args.KVMount, service) + p})
	}
	return InjectorAnnotations(v.args.Distribution, role, secrets)
}

const (
	tokenKey = "token"
	seedDir  = "/seed"
)

// newConfigJob creates the Secret (admin token + seed data) and the Job
// running script.
func newConfigJob(ctx *pulumi.Context, name string, a Args, script string, opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	secretName := a.ReleaseName + "-ordermesh-config"
	stringData := pulumi.StringMap{tokenKey: pulumi.ToSecret(a.AdminToken).(pulumi.StringOutput)}
	var items corev1.KeyToPathArray
	var seedKeys []string
	for _, s := range a.Services {
		for _, sec := range s.Secrets {
			key := SeedFileName(s.Name, sec.Path)
			seedKeys = append(seedKeys, key)
			data := sec.Data
			if data == nil {
				data = pulumi.StringMap{}
			}
			stringData[key] = pulumi.ToSecret(data.ToStringMapOutput().ApplyT(func(m map[string]string) (string, error) {
				b, err := json.Marshal(m)
				return string(b), err
			})).(pulumi.StringOutput)
		}
	}
	sort.Strings(seedKeys)
	for _, k := range seedKeys {
		items = append(items, corev1.KeyToPathArgs{Key: pulumi.String(k), Path: pulumi.String(k)})
	}

	secret, err := corev1.NewSecret(ctx, name+"-config", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(secretName),
			Namespace: pulumi.String(a.Namespace),
			Labels:    labels(a),
		},
		Type:       pulumi.String("Opaque"),
		StringData: stringData,
	}, append(opts, pulumi.AdditionalSecretOutputs([]string{"data", "stringData"}))...)
	if err != nil {
		return nil, fmt.Errorf("vault: config secret: %w", err)
	}

	tokenEnv := func(n string) corev1.EnvVarInput {
		return corev1.EnvVarArgs{Name: pulumi.String(n), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(secretName), Key: pulumi.String(tokenKey)},
		}}
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("VAULT_ADDR"), Value: pulumi.String(a.Address)},
		corev1.EnvVarArgs{Name: pulumi.String("BAO_ADDR"), Value: pulumi.String(a.Address)},
		tokenEnv("VAULT_TOKEN"),
		tokenEnv("BAO_TOKEN"),
		corev1.EnvVarArgs{Name: pulumi.String("VAULT_BIN"), Value: pulumi.String(cliName(a.Distribution))},
		corev1.EnvVarArgs{Name: pulumi.String("SEED_DIR"), Value: pulumi.String(seedDir)},
		// The CLI's token helper looks in $HOME; point it at the writable
		// emptyDir.
		corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/tmp")},
	}
	// The root filesystem is read-only; the CLI may still want a writable
	// $HOME.
	volumes := corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}}
	mounts := corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}}
	if len(items) > 0 {
		volumes = append(volumes, corev1.VolumeArgs{
			Name:   pulumi.String("seed"),
			Secret: &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(secretName), Items: items},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{
			Name: pulumi.String("seed"), MountPath: pulumi.String(seedDir), ReadOnly: pulumi.Bool(true),
		})
	}

	jobName := fmt.Sprintf("%s-configure-%s", a.ReleaseName, ScriptHash(script+a.ConfigImage+a.Address))
	job, err := batchv1.NewJob(ctx, name+"-configure", &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(jobName),
			Namespace: pulumi.String(a.Namespace),
			Labels:    labels(a),
		},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(6),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: labels(a),
					// A mesh sidecar would keep the pod (and the Job) running
					// after the script exits.
					Annotations: pulumi.StringMap{"sidecar.istio.io/inject": pulumi.String("false")},
				},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot: pulumi.Bool(true),
						// The images' own non-root user; the script needs no
						// file it owns.
						RunAsUser: pulumi.Int(100),
						SeccompProfile: &corev1.SeccompProfileArgs{
							Type: pulumi.String("RuntimeDefault"),
						},
					},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:    pulumi.String("configure"),
						Image:   pulumi.String(a.ConfigImage),
						Command: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c"), pulumi.String(script)},
						Env:     env,
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
						VolumeMounts: mounts,
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("256Mi")},
						},
					}},
					Volumes: volumes,
				},
			},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{secret}))...)
	if err != nil {
		return nil, fmt.Errorf("vault: config job: %w", err)
	}
	return job, nil
}

func labels(a Args) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String(a.ReleaseName + "-configure"),
		"app.kubernetes.io/part-of":    pulumi.String("ordermesh"),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
}
