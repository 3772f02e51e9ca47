package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// unknown marks a value that is not known during preview in fixtures.
type unknownT struct{}

var unknown = unknownT{}

// deleted removes a key in with().
type deletedT struct{}

var deleted = deletedT{}

func toValue(v any) property.Value {
	switch v := v.(type) {
	case unknownT:
		return property.New(property.Computed)
	case nil:
		return property.Value{}
	case string:
		return property.New(v)
	case bool:
		return property.New(v)
	case int:
		return property.New(float64(v))
	case float64:
		return property.New(v)
	case []any:
		vs := make([]property.Value, len(v))
		for i, e := range v {
			vs[i] = toValue(e)
		}
		return property.New(vs)
	case map[string]any:
		m := make(map[string]property.Value, len(v))
		for k, e := range v {
			m[k] = toValue(e)
		}
		return property.New(m)
	}
	panic(fmt.Sprintf("fixture: unsupported %T", v))
}

// res builds a Resource of type typ from a Kubernetes object literal.
func res(typ string, obj map[string]any) Resource {
	name := ""
	if md, ok := obj["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	return Resource{Type: typ, URN: "urn:pulumi:test::ordermesh::" + typ + "::" + name, Name: name,
		Props: toValue(obj).AsMap()}
}

// clone deep-copies a fixture through JSON, keeping unknown markers.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// with returns a copy of obj with the dotted path set to value (deleted removes it); numeric segments index
// arrays. Keys containing dots are written with a "\\." escape.
func with(obj map[string]any, path string, value any) map[string]any {
	out := clone(obj).(map[string]any)
	segs := strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".")
	var cur any = out
	for i, seg := range segs {
		seg = strings.ReplaceAll(seg, "\x00", ".")
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if _, del := value.(deletedT); del {
					delete(c, seg)
				} else {
					c[seg] = value
				}
				return out
			}
			if _, ok := c[seg]; !ok {
				c[seg] = map[string]any{}
			}
			cur = c[seg]
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil {
				panic("fixture: bad index " + seg)
			}
			if last {
				c[idx] = value
				return out
			}
			cur = c[idx]
		default:
			panic("fixture: cannot descend into " + path)
		}
	}
	return out
}

func jsonObj(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

const (
	tDeployment     = "kubernetes:apps/v1:Deployment"
	tStatefulSet    = "kubernetes:apps/v1:StatefulSet"
	tJob            = "kubernetes:batch/v1:Job"
	tCronJob        = "kubernetes:batch/v1:CronJob"
	tService        = "kubernetes:core/v1:Service"
	tConfigMap      = "kubernetes:core/v1:ConfigMap"
	tPDB            = "kubernetes:policy/v1:PodDisruptionBudget"
	tNetworkPolicy  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	tPeerAuth       = "kubernetes:security.istio.io/v1:PeerAuthentication"
	tAuthzPolicy    = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
	tVirtualService = "kubernetes:networking.istio.io/v1:VirtualService"
	tKafkaTopic     = "kubernetes:kafka.strimzi.io/v1:KafkaTopic"
	tKafkaUser      = "kubernetes:kafka.strimzi.io/v1:KafkaUser"
)

// goodDeployment is a Deployment that satisfies every workload rule: the shape components/service produces.
func goodDeployment(name string, replicas int) map[string]any {
	return jsonObj(`{
	  "apiVersion": "apps/v1", "kind": "Deployment",
	  "metadata": {"name": "` + name + `", "namespace": "orders"},
	  "spec": {
	    "replicas": ` + strconv.Itoa(replicas) + `,
	    "selector": {"matchLabels": {"app": "` + name + `"}},
	    "template": {
	      "metadata": {"labels": {"app": "` + name + `", "version": "stable"}},
	      "spec": {
	        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
	        "containers": [{
	          "name": "app",
	          "image": "ghcr.io/ordermesh/` + name + `:1.4.2",
	          "env": [
	            {"name": "KAFKA_BROKERS", "value": "kafka-bootstrap:9092"},
	            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
	            {"name": "VAULT_TOKEN_PATH", "value": "/vault/secrets/token"}
	          ],
	          "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
	          "readinessProbe": {"grpc": {"port": 8080}},
	          "livenessProbe": {"grpc": {"port": 8080}},
	          "securityContext": {
	            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
	            "capabilities": {"drop": ["ALL"]}
	          }
	        }]
	      }
	    }
	  }
	}`)
}

func pdb(name string, selector map[string]any, field string, value any) map[string]any {
	return map[string]any{
		"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
		"metadata": map[string]any{"name": name, "namespace": "orders"},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": selector}, field: value},
	}
}

func networkPolicy(name string, podSelector map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": name, "namespace": "orders"},
		"spec": map[string]any{
			"podSelector": podSelector,
			"policyTypes": []any{"Ingress", "Egress"},
		},
	}
}

var defaultDenyNP = networkPolicy("default-deny", map[string]any{})

func allowNP(app string) map[string]any {
	return with(networkPolicy(app+"-allow", map[string]any{"matchLabels": map[string]any{"app": app}}),
		"spec.ingress", []any{map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{}}}}})
}

func peerAuth(ns, mode string) map[string]any {
	return map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": "default", "namespace": ns},
		"spec":     map[string]any{"mtls": map[string]any{"mode": mode}},
	}
}

func virtualService(weights ...any) map[string]any {
	var route []any
	for i, w := range weights {
		route = append(route, map[string]any{
			"destination": map[string]any{"host": "order", "subset": []string{"stable", "canary"}[i%2]},
			"weight":      w,
		})
	}
	return map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "order", "namespace": "orders"},
		"spec": map[string]any{
			"hosts": []any{"order"},
			"http":  []any{map[string]any{"name": "canary", "route": route}},
		},
	}
}

func kafkaTopic(replicas, isr any) map[string]any {
	spec := map[string]any{"partitions": 6}
	if replicas != nil {
		spec["replicas"] = replicas
	}
	if isr != nil {
		spec["config"] = map[string]any{"min.insync.replicas": isr}
	}
	return map[string]any{
		"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
		"metadata": map[string]any{"name": "orders", "namespace": "kafka"},
		"spec":     spec,
	}
}

func kafkaUser(acls ...any) map[string]any {
	return map[string]any{
		"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser",
		"metadata": map[string]any{"name": "order", "namespace": "kafka"},
		"spec": map[string]any{
			"authentication": map[string]any{"type": "tls"},
			"authorization":  map[string]any{"type": "simple", "acls": acls},
		},
	}
}

func acl(typ, name, pattern string, ops ...any) map[string]any {
	return map[string]any{
		"resource":   map[string]any{"type": typ, "name": name, "patternType": pattern},
		"operations": ops,
	}
}

func service(name, typ string, labels map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": "orders", "labels": labels},
		"spec":     map[string]any{"type": typ, "ports": []any{map[string]any{"port": 80}}},
	}
}

func configMap(data map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "order-config", "namespace": "orders"},
		"data":     data,
	}
}
