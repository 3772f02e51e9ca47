package stacks

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type noMocks struct{}

func (noMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "_id", args.Inputs, nil
}

func (noMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// runLoad runs Load inside a mocked Pulumi program whose stack config is cfg.
func runLoad(t *testing.T, cfg map[string]string, secret []string) (*Config, error) {
	t.Helper()
	env, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The engine passes the config document in PULUMI_CONFIG; Load enumerates keys from it.
	t.Setenv(pulumi.EnvConfig, string(env))
	var (
		mu      sync.Mutex
		got     *Config
		loadErr error
	)
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = cfg
		info.ConfigSecretKeys = secret
	}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := Load(ctx)
		mu.Lock()
		defer mu.Unlock()
		got, loadErr = c, err
		return nil
	}, pulumi.WithMocks("ordermesh", "test", noMocks{}), withConfig)
	if err != nil {
		t.Fatal(err)
	}
	return got, loadErr
}

func TestLoadReadsProfileAndOverridesFromStackConfig(t *testing.T) {
	c, err := runLoad(t, map[string]string{
		"ordermesh:profile":    "prod",
		"ordermesh:kafka":      `{"partitions": 7}`,
		"ordermesh:kubeconfig": "apiVersion: v1 # secret, never decoded",
		"kubernetes:context":   "other",
	}, []string{"ordermesh:kubeconfig"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != Prod || c.Kafka.Partitions != 7 || c.Services[OrderService].Replicas != 3 {
		t.Errorf("profile %s partitions %d order replicas %d", c.Profile, c.Kafka.Partitions, c.Services[OrderService].Replicas)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, ".state", "localcluster"); c.Cluster.LocalStateDir != want {
		t.Errorf("localStateDir = %q, want %q (relative to the project root)", c.Cluster.LocalStateDir, want)
	}
}

func TestLoadFailsWithEveryProblemIncludingUnknownKeys(t *testing.T) {
	_, err := runLoad(t, map[string]string{
		"ordermesh:profile":  "dev",
		"ordermesh:servicez": `{}`,
		"ordermesh:services": `{"payment": {"canary": {"weight": 120}}}`,
		"ordermesh:kafka":    `{"replication": 2}`,
	}, nil)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	for _, want := range []string{
		"ordermesh:servicez = (set): unknown key",
		"ordermesh:services.payment.canary.weight = 120: must be 0..100",
		"ordermesh:kafka.replication = 2: must be 1..kafka.brokers (1)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
