package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is the Pulumi config namespace of ordermesh settings.
const Namespace = "ordermesh"

// SecretKeys are the top-level secret config keys (without namespace). They are read
// with config.GetSecret/RequireSecret by their users and are never part of Config.
var SecretKeys = []string{
	// kubeconfig is the kubeconfig of an existing cluster.
	"kubeconfig",
	// sshPrivateKey is the SSH private key for the hosts of cluster mode vps.
	"sshPrivateKey",
	// vaultAdminToken is a Vault token allowed to apply ordermesh's Vault configuration
	// (required in staging and prod; dev uses the dev server's root token).
	"vaultAdminToken",
}

// sectionKeys returns the top-level non-secret keys in schema order.
func sectionKeys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, jsonName(t.Field(i)))
	}
	return keys
}

// Problems is a list of configuration problems; its Error lists one per line.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("invalid ordermesh configuration (%d problems):\n  %s", len(p), strings.Join(p, "\n  "))
}

// Resolve builds the configuration of a stack from the raw Pulumi config values: keys as
// Pulumi gives them (`ordermesh:kafka`), values as strings (objects as JSON). An empty
// profile is taken from raw["ordermesh:profile"]. Keys of other namespaces are ignored;
// secret keys (SecretKeys) are accepted and ignored. It returns every problem at once as
// Problems.
func Resolve(profile string, raw map[string]string) (*Config, error) {
	var probs Problems
	if profile == "" {
		profile = raw[Namespace+":profile"]
	}
	p, err := ParseProfile(profile)
	knownProfile := err == nil
	if !knownProfile {
		probs = append(probs, fmt.Sprintf("%s:profile = %q: must be one of dev, staging, prod", Namespace, profile))
		// Still check the overrides' keys and types against the schema.
		p = Dev
	}
	cfg, err := Defaults(p)
	if err != nil {
		return nil, err
	}

	sections := sectionKeys()
	allowedTop := append(slices.Clone(sections), SecretKeys...)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	cv := reflect.ValueOf(cfg).Elem()
	for _, key := range keys {
		ns, name, ok := strings.Cut(key, ":")
		if !ok || ns != Namespace {
			continue
		}
		if name == "profile" || slices.Contains(SecretKeys, name) {
			continue
		}
		i := slices.Index(sections, name)
		if i < 0 {
			probs = append(probs, fmt.Sprintf("%s = (set): unknown key; allowed keys: %s", key, strings.Join(prefixed(allowedTop), ", ")))
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(raw[key]), &v); err != nil {
			probs = append(probs, fmt.Sprintf("%s = %s: must be a JSON object (%v)", key, quoteValue(raw[key]), err))
			continue
		}
		merge(key, cv.Field(i), v, &probs)
	}
	if knownProfile {
		probs = append(probs, cfg.Validate()...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

func prefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Namespace + ":" + k
	}
	return out
}

// merge overlays the decoded JSON value v onto dst, recording type errors and unknown keys
// under the dotted path.
func merge(path string, dst reflect.Value, v any, probs *Problems) {
	bad := func(allowed string) {
		*probs = append(*probs, fmt.Sprintf("%s = %s: %s", path, showJSON(v), allowed))
	}
	switch dst.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object with keys " + strings.Join(fieldNames(dst.Type()), ", "))
			return
		}
		for _, k := range slices.Sorted(mapKeys(obj)) {
			f, ok := fieldByJSON(dst, k)
			if !ok {
				*probs = append(*probs, fmt.Sprintf("%s.%s = %s: unknown key; allowed keys: %s", path, k, showJSON(obj[k]), strings.Join(fieldNames(dst.Type()), ", ")))
				continue
			}
			merge(path+"."+k, f, obj[k], probs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object")
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMap(dst.Type()))
		}
		isServices := dst.Type().Elem() == reflect.TypeFor[Service]()
		for _, k := range slices.Sorted(mapKeys(obj)) {
			elem := reflect.New(dst.Type().Elem()).Elem()
			if existing := dst.MapIndex(reflect.ValueOf(k)); existing.IsValid() {
				elem.Set(existing)
			} else if isServices {
				*probs = append(*probs, fmt.Sprintf("%s.%s = %s: unknown service; allowed: %s", path, k, showJSON(obj[k]), strings.Join(ServiceNames, ", ")))
				continue
			}
			before := len(*probs)
			merge(path+"."+k, elem, obj[k], probs)
			if len(*probs) == before {
				dst.SetMapIndex(reflect.ValueOf(k), elem)
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			bad("must be a list of strings")
			return
		}
		out := reflect.MakeSlice(dst.Type(), 0, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				*probs = append(*probs, fmt.Sprintf("%s[%d] = %s: must be a string", path, i, showJSON(e)))
				continue
			}
			out = reflect.Append(out, reflect.ValueOf(s).Convert(dst.Type().Elem()))
		}
		dst.Set(out)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			bad("must be a string")
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		switch b := v.(type) {
		case bool:
			dst.SetBool(b)
		case string:
			// `pulumi config set --path` may store scalars as strings.
			pb, err := strconv.ParseBool(b)
			if err != nil {
				bad("must be true or false")
				return
			}
			dst.SetBool(pb)
		default:
			bad("must be true or false")
		}
	case reflect.Int:
		var f float64
		switch n := v.(type) {
		case float64:
			f = n
		case string:
			pi, err := strconv.Atoi(n)
			if err != nil {
				bad("must be an integer")
				return
			}
			f = float64(pi)
		default:
			bad("must be an integer")
			return
		}
		if f != float64(int64(f)) {
			bad("must be an integer")
			return
		}
		dst.SetInt(int64(f))
	case reflect.Float64:
		switch n := v.(type) {
		case float64:
			dst.SetFloat(n)
		case string:
			pf, err := strconv.ParseFloat(n, 64)
			if err != nil {
				bad("must be a number")
				return
			}
			dst.SetFloat(pf)
		default:
			bad("must be a number")
		}
	default:
		bad(fmt.Sprintf("unsupported schema kind %s", dst.Kind()))
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func fieldNames(t reflect.Type) []string {
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		names = append(names, jsonName(t.Field(i)))
	}
	return names
}

func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		if jsonName(v.Type().Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func showJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return quoteValue(string(b))
}

// quoteValue shortens long values so an error line stays readable.
func quoteValue(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Load reads the stack's ordermesh configuration through ctx, applies the profile
// defaults and validates it, returning every problem at once. Relative paths are made
// absolute against the project root (the directory holding Pulumi.yaml), because the
// program runs in infra/.
func Load(ctx *pulumi.Context) (*Config, error) {
	raw := map[string]string{}
	for _, key := range configKeys(ctx) {
		if ctx.IsConfigSecret(key) {
			continue // secrets are read by their users, never decoded here
		}
		if v, ok := ctx.GetConfig(key); ok {
			raw[key] = v
		}
	}
	cfg, err := Resolve("", raw)
	if err != nil {
		return nil, err
	}
	root, err := ProjectRoot()
	if err != nil {
		return nil, fmt.Errorf("stacks: %w", err)
	}
	cfg.ApplyEnvironment(root, os.Getenv("ORDERMESH_CRDS_DIR"))
	return cfg, nil
}

// configKeys lists the stack's config keys in the ordermesh namespace. The Go SDK offers no
// enumeration, so they come from the PULUMI_CONFIG document the engine passes to the
// program; the known keys are probed as well so mocks without it work.
func configKeys(ctx *pulumi.Context) []string {
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var all map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all); err == nil {
		for k := range all {
			if strings.HasPrefix(k, Namespace+":") {
				add(k)
			}
		}
	}
	for _, k := range append([]string{"profile"}, sectionKeys()...) {
		if _, ok := ctx.GetConfig(Namespace + ":" + k); ok {
			add(Namespace + ":" + k)
		}
	}
	slices.Sort(keys)
	return keys
}

// ProjectRoot finds the directory holding Pulumi.yaml, starting at the working directory.
func ProjectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no Pulumi.yaml in the working directory or its parents")
		}
		dir = parent
	}
}

// ApplyEnvironment makes the configured paths absolute against the project root and
// fills Operators.CRDsDir when it is unset: from crdsEnv (ORDERMESH_CRDS_DIR), else in
// local cluster mode from root/../shared/crds when that directory exists.
func (c *Config) ApplyEnvironment(root, crdsEnv string) {
	if c.Operators.CRDsDir == "" {
		switch {
		case crdsEnv != "":
			c.Operators.CRDsDir = crdsEnv
		case c.Cluster.Mode == "local":
			shared := filepath.Join(root, "..", "shared", "crds")
			if st, err := os.Stat(shared); err == nil && st.IsDir() {
				c.Operators.CRDsDir = shared
			}
		}
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Clean(filepath.Join(root, p))
	}
	c.Cluster.LocalStateDir = abs(c.Cluster.LocalStateDir)
	c.Cluster.RenderDir = abs(c.Cluster.RenderDir)
	c.Operators.CRDsDir = abs(c.Operators.CRDsDir)
}

// InstallCharts reports whether operator charts are installed (not skipped for a CRD dir).
func (o Operators) InstallCharts() bool { return o.Install && o.CRDsDir == "" }
