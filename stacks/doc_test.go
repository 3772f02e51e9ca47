package stacks

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const docPath = "../docs/CONFIGURATION.md"

// TestConfigurationDocIsCurrent regenerates docs/CONFIGURATION.md from the schema (field
// doc comments in schema.go, types by reflection, defaults from Defaults) and fails when the
// committed file differs. ORDERMESH_UPDATE_DOCS=1 (or `go generate ./stacks`) rewrites it.
func TestConfigurationDocIsCurrent(t *testing.T) {
	got, err := generateDoc("schema.go")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ORDERMESH_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run `go generate ./stacks`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the schema: run `go generate ./stacks`", filepath.Clean(docPath))
	}
}

func TestDocListsEveryKey(t *testing.T) {
	doc, err := generateDoc("schema.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"`ordermesh:profile`", "`ordermesh:kafka.minInsyncReplicas`", "`ordermesh:services.payment.canary.weight`",
		"`ordermesh:services.order-query.resources.limits.memory`", "`ordermesh:observability.slo.deadLetterRatePerMin`",
		"`ordermesh:kubeconfig`",
	} {
		if !bytes.Contains(doc, []byte(key)) {
			t.Errorf("doc lacks %s", key)
		}
	}
	if bytes.Contains(doc, []byte("| (undocumented)")) {
		t.Error("a schema field has no doc comment")
	}
}

// fieldDocs maps "Type.Field" to the field's doc comment, from the schema source.
func fieldDocs(file string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fld := range st.Fields.List {
			for _, name := range fld.Names {
				docs[ts.Name.Name+"."+name.Name] = strings.Join(strings.Fields(fld.Doc.Text()), " ")
			}
		}
		return false
	})
	return docs, nil
}

type docRow struct{ key, typ, doc string }

func generateDoc(schemaFile string) ([]byte, error) {
	docs, err := fieldDocs(schemaFile)
	if err != nil {
		return nil, err
	}
	var defaults []reflect.Value
	for _, p := range Profiles {
		c, err := Defaults(p)
		if err != nil {
			return nil, err
		}
		defaults = append(defaults, reflect.ValueOf(*c))
	}

	var b bytes.Buffer
	b.WriteString(`# Configuration

<!-- Generated from stacks/schema.go by ` + "`go generate ./stacks`" + `; do not edit. -->

Every ordermesh setting is a Pulumi config key in the ` + "`ordermesh`" + ` namespace. ` + "`ordermesh:profile`" + `
selects the profile (dev, staging or prod) whose defaults apply; every other key overrides one field.
Each section is one structured key, so ` + "`ordermesh:kafka.brokers`" + ` is set as

` + "```yaml" + `
config:
  ordermesh:profile: prod
  ordermesh:kafka:
    brokers: 5
` + "```" + `

or with ` + "`pulumi config set --path ordermesh:kafka.brokers 5`" + `. Unknown keys are errors, and
validation lists every problem at once, each with its key, the bad value and what is allowed.
Relative paths are relative to the project root (the directory holding Pulumi.yaml).

## From services to Kubernetes objects

` + "`components/service.ArgsFromConfig`" + ` turns each ` + "`ordermesh:services.<name>`" + ` into one
Microservice: Deployment ` + "`<name>-v1`" + ` (and ` + "`<name>-v2`" + ` with the canary image when
` + "`canary.enabled`" + `), Service, ServiceAccount, PodDisruptionBudget, HPA, NetworkPolicy, Istio
AuthorizationPolicy, PeerAuthentication, DestinationRule and VirtualService (with ` + "`mesh.enabled`" + `)
and ServiceMonitor (with ` + "`observability.enabled`" + `).
The call graph is declared once, in ` + "`callers`" + `: a service admits gRPC only from its callers
(NetworkPolicy ingress and Istio principals, restricted to ` + "`methods`" + ` when set), and its
egress reaches only the services that list it as a caller, plus DNS, the Kafka brokers (when it
produces or consumes), the OTel collector, istiod and Vault (with ` + "`needsVault`" + `). The apps
namespace denies everything else by default.

## Secrets

Set with ` + "`pulumi config set --secret`" + `; never part of the typed configuration, never logged.

| key | meaning |
| --- | --- |
| ` + "`ordermesh:kubeconfig`" + ` | kubeconfig of an existing cluster |
| ` + "`ordermesh:sshPrivateKey`" + ` | SSH private key for the hosts of cluster mode vps |
| ` + "`ordermesh:vaultAdminToken`" + ` | Vault token that applies ordermesh's Vault configuration (required in staging and prod) |
`)
	if got := len(SecretKeys); got != 3 {
		return nil, fmt.Errorf("SecretKeys has %d keys; update the secrets table in generateDoc", got)
	}

	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		var vals []reflect.Value
		for _, d := range defaults {
			vals = append(vals, d.Field(i))
		}
		fmt.Fprintf(&b, "\n## `ordermesh:%s`\n\n%s\n\n", name, docOf(docs, "Config", f.Name))
		b.WriteString("| key | type | dev | staging | prod | meaning |\n| --- | --- | --- | --- | --- | --- |\n")
		walkDoc(&b, docs, Namespace+":"+name, f.Type, vals, "Config", f.Name)
	}
	return b.Bytes(), nil
}

func docOf(docs map[string]string, typ, field string) string {
	if d := docs[typ+"."+field]; d != "" {
		return d
	}
	return "(undocumented)"
}

// walkDoc writes one row per leaf key under path; vals holds the value per profile.
func walkDoc(b *bytes.Buffer, docs map[string]string, path string, t reflect.Type, vals []reflect.Value, parent, field string) {
	switch {
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			var sub []reflect.Value
			for _, v := range vals {
				sub = append(sub, v.Field(i))
			}
			walkDoc(b, docs, path+"."+jsonName(f), f.Type, sub, t.Name(), f.Name)
		}
	case t.Kind() == reflect.Map && t.Elem() == reflect.TypeFor[Host]():
		// Hosts have no defaults: one block of rows for a host named <name>.
		for i := range t.Elem().NumField() {
			f := t.Elem().Field(i)
			row := fmt.Sprintf("| `%s.<name>.%s` | %s |", path, jsonName(f), typeName(f.Type))
			for range vals {
				row += " — |"
			}
			b.WriteString(row + " " + strings.ReplaceAll(docOf(docs, t.Elem().Name(), f.Name), "|", "\\|") + " |\n")
		}
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		// Services: one block of rows per reference service.
		for _, name := range ServiceNames {
			var sub []reflect.Value
			for _, v := range vals {
				sub = append(sub, v.MapIndex(reflect.ValueOf(name)))
			}
			walkDoc(b, docs, path+"."+name, t.Elem(), sub, parent, field)
		}
	default:
		if parent == "Config" && field == "Profile" {
			path = Namespace + ":profile"
		}
		row := fmt.Sprintf("| `%s` | %s |", path, typeName(t))
		for _, v := range vals {
			row += " " + formatValue(v) + " |"
		}
		row += " " + strings.ReplaceAll(docOf(docs, parent, field), "|", "\\|") + " |\n"
		b.WriteString(row)
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "int"
	case reflect.Bool:
		return "bool"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of strings"
	case reflect.Map:
		return "map of strings"
	}
	return t.String()
}

func formatValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return "(empty)"
		}
		return "`" + v.String() + "`"
	case reflect.Slice:
		if v.Len() == 0 {
			return "(none)"
		}
		var parts []string
		for i := range v.Len() {
			parts = append(parts, "`"+v.Index(i).String()+"`")
		}
		return strings.Join(parts, ", ")
	case reflect.Map:
		if v.Len() == 0 {
			return "(none)"
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("`%s=%s`", k, v.MapIndex(k)))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v.Interface())
}
