package rules

import (
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// node is a value inside a resource's properties together with the path that reached it, so that a rule can
// say which field is missing or unknown. Lookups through an unknown (computed) value stay unknown: a rule can
// then tell "absent" from "not yet known" without checking every level itself.
type node struct {
	v       property.Value
	path    string
	present bool
	unknown bool
}

func root(m property.Map) node {
	return node{v: property.New(m), present: true}
}

func (n node) child(seg string) string {
	if n.path == "" {
		return seg
	}
	if strings.HasPrefix(seg, "[") {
		return n.path + seg
	}
	return n.path + "." + seg
}

// Get returns the map entry key; missing when n is not a map or has no such key.
func (n node) Get(key string) node {
	c := node{path: n.child(key)}
	switch {
	case n.unknown || (n.present && n.v.IsComputed()):
		c.unknown = true
	case n.present && n.v.IsMap():
		v, ok := n.v.AsMap().GetOk(key)
		if ok && !v.IsNull() {
			c.v, c.present = v, true
			c.unknown = v.IsComputed()
		}
	}
	return c
}

// Path follows several keys.
func (n node) Path(keys ...string) node {
	for _, k := range keys {
		n = n.Get(k)
	}
	return n
}

// Unknown reports whether the value is not known yet (a preview of a value computed by another resource).
func (n node) Unknown() bool { return n.unknown }

// Missing reports whether the value is known to be absent (or null).
func (n node) Missing() bool { return !n.present && !n.unknown }

// Items returns the elements of an array; none when n is missing, unknown or not an array.
func (n node) Items() []node {
	if !n.present || n.unknown || !n.v.IsArray() {
		return nil
	}
	arr := n.v.AsArray()
	out := make([]node, 0, arr.Len())
	for i, v := range arr.All {
		out = append(out, node{
			v: v, path: n.child("[" + strconv.Itoa(i) + "]"),
			present: !v.IsNull(), unknown: v.IsComputed(),
		})
	}
	return out
}

// Entries returns the keys and values of a map in a stable order.
func (n node) Entries() []entry {
	if !n.present || n.unknown || !n.v.IsMap() {
		return nil
	}
	var out []entry
	for k, v := range n.v.AsMap().AllStable {
		out = append(out, entry{Key: k, Value: node{
			v: v, path: n.child(k), present: !v.IsNull(), unknown: v.IsComputed(),
		}})
	}
	return out
}

type entry struct {
	Key   string
	Value node
}

// Str returns the value as a string; ok is false unless it is a known string.
func (n node) Str() (string, bool) {
	if !n.present || n.unknown || !n.v.IsString() {
		return "", false
	}
	return n.v.AsString(), true
}

// Num returns the value as a number. Kubernetes and Strimzi accept numbers written as strings in places
// (e.g. topic config), so numeric strings count too.
func (n node) Num() (float64, bool) {
	if !n.present || n.unknown {
		return 0, false
	}
	switch {
	case n.v.IsNumber():
		return n.v.AsNumber(), true
	case n.v.IsString():
		f, err := strconv.ParseFloat(strings.TrimSpace(n.v.AsString()), 64)
		return f, err == nil
	}
	return 0, false
}

// Bool returns the value as a bool; ok is false unless it is a known bool.
func (n node) Bool() (bool, bool) {
	if !n.present || n.unknown || !n.v.IsBool() {
		return false, false
	}
	return n.v.AsBool(), true
}

// IsTrue reports whether the value is known to be the boolean true.
func (n node) IsTrue() bool {
	b, ok := n.Bool()
	return ok && b
}

// strings returns the known string elements of an array.
func (n node) Strings() []string {
	var out []string
	for _, it := range n.Items() {
		if s, ok := it.Str(); ok {
			out = append(out, s)
		}
	}
	return out
}

// HasUnknown reports whether the value or anything inside it is unknown.
func (n node) HasUnknown() bool {
	return n.unknown || (n.present && n.v.HasComputed())
}
