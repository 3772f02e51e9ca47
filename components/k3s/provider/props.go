package provider

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"google.golang.org/protobuf/types/known/structpb"
)

var wireOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, wireOpts)
}

// plain strips secrets and records the top-level keys that are (or contain) unknowns.
func plain(pm resource.PropertyMap) (map[string]any, map[string]bool) {
	unknown := map[string]bool{}
	out := map[string]any{}
	for k, v := range pm {
		pv, unk := plainValue(v)
		if unk {
			unknown[string(k)] = true
			continue
		}
		out[string(k)] = pv
	}
	return out, unknown
}

func plainValue(v resource.PropertyValue) (any, bool) {
	switch {
	case v.IsSecret():
		return plainValue(v.SecretValue().Element)
	case v.IsComputed():
		return nil, true
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return nil, true
		}
		return plainValue(o.Element)
	case v.IsObject():
		m := map[string]any{}
		unk := false
		for k, e := range v.ObjectValue() {
			pv, u := plainValue(e)
			unk = unk || u
			m[string(k)] = pv
		}
		return m, unk
	case v.IsArray():
		var a []any
		unk := false
		for _, e := range v.ArrayValue() {
			pv, u := plainValue(e)
			unk = unk || u
			a = append(a, pv)
		}
		return a, unk
	case v.IsNull():
		return nil, false
	}
	return v.V, false
}

// decode turns wire properties into a struct by way of JSON; unknown top-level keys are left zero
// and reported.
func decode(pm resource.PropertyMap, into any) (map[string]bool, error) {
	m, unknown := plain(pm)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return nil, fmt.Errorf("decode properties: %w", err)
	}
	return unknown, nil
}

// encode turns a struct into wire properties with the secret keys marked secret.
func encode(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	pm := resource.NewPropertyMapFromMap(m)
	for _, k := range secretKeys {
		if v, ok := pm[resource.PropertyKey(k)]; ok {
			pm[resource.PropertyKey(k)] = resource.MakeSecret(v)
		}
	}
	return plugin.MarshalProperties(pm, wireOpts)
}

// changedKeys lists top-level keys whose plain values differ, or that are unknown in news.
func changedKeys(olds, news resource.PropertyMap, ignore []string) []string {
	o, _ := plain(olds)
	n, unknown := plain(news)
	var keys []string
	seen := map[string]bool{}
	for k := range o {
		seen[k] = true
	}
	for k := range n {
		seen[k] = true
	}
	for k := range unknown {
		seen[k] = true
	}
	for k := range seen {
		if slices.Contains(ignore, k) {
			continue
		}
		if unknown[k] || !reflect.DeepEqual(normalise(o[k]), normalise(n[k])) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// normalise makes JSON round-trips comparable (an absent key equals an empty value).
func normalise(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	}
	return v
}
