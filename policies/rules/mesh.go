package rules

import (
	"strconv"
	"strings"
)

const istioRootNamespace = "istio-system"

func usesIstio(rs []Resource) bool {
	for _, r := range rs {
		if g, _ := kind(r.Type); strings.HasSuffix(g, ".istio.io") {
			return true
		}
	}
	return false
}

var meshStrictMTLS = Rule{
	Name: "mesh-strict-mtls",
	Description: "When the stack runs Istio, STRICT mutual TLS covers every app namespace and no " +
		"PeerAuthentication weakens it (port-level PERMISSIVE for metrics scraping is allowed).",
	Remediation: "Create a PeerAuthentication with spec.mtls.mode STRICT and no selector in istio-system " +
		"(mesh-wide) or in each app namespace; remove PERMISSIVE/DISABLE modes and port-level DISABLE.",
	Class: Safety,
	CheckStack: func(rs []Resource, p Params) []Finding {
		if !usesIstio(rs) {
			return nil
		}
		f := &findings{}
		meshWide, undecided := false, false
		strictNS := map[string]bool{}
		for _, pa := range ofKind(rs, "security.istio.io", "PeerAuthentication") {
			f.urn = pa.URN
			ns, nsNode := namespace(pa)
			spec := root(pa.Props).Get("spec")
			mode := spec.Path("mtls", "mode")
			if nsNode.Unknown() || mode.Unknown() || spec.Get("selector").Unknown() {
				f.unknown(firstUnknown(nsNode, mode, spec.Get("selector")))
				undecided = true
				continue
			}
			m, _ := mode.Str()
			switch m {
			case "STRICT":
				if emptySelector(spec.Get("selector")) {
					strictNS[ns] = true
					meshWide = meshWide || ns == istioRootNamespace
				}
			case "PERMISSIVE", "DISABLE":
				f.fail("PeerAuthentication %q in namespace %q sets mtls.mode %s", displayName(pa), ns, m)
			}
			// Port-level PERMISSIVE is the documented way to let a scraper outside the mesh reach a metrics
			// port; only turning mTLS off on a port weakens the mesh.
			for _, pl := range spec.Get("portLevelMtls").Entries() {
				if pm, _ := pl.Value.Get("mode").Str(); pm == "DISABLE" {
					f.fail("PeerAuthentication %q sets port %s to mtls.mode %s", displayName(pa), pl.Key, pm)
				}
			}
		}
		if meshWide || undecided {
			return f.out
		}
		ws := inAppNamespaces(rs, appWorkloads(rs, p, f))
		namespaces := appNamespaces(ws)
		if len(namespaces) == 0 && len(strictNS) == 0 {
			f.urn = ""
			f.fail("the stack configures Istio but no PeerAuthentication sets mtls.mode STRICT")
		}
		for _, ns := range namespaces {
			if strictNS[ns] {
				continue
			}
			for _, w := range ws {
				if w.ns == ns {
					f.urn = w.r.URN
					break
				}
			}
			f.fail("namespace %q is not covered by a STRICT PeerAuthentication (neither mesh-wide in %s nor "+
				"namespace-wide)", ns, istioRootNamespace)
		}
		return f.out
	},
}

func firstUnknown(ns ...node) node {
	for _, n := range ns {
		if n.Unknown() {
			return n
		}
	}
	return ns[0]
}

// wildcardOnly reports whether a list of strings is just "*".
func wildcardOnly(ss []string) bool {
	return len(ss) == 1 && ss[0] == "*"
}

// allowsAll reports whether an AuthorizationPolicy rule matches every request: no conditions at all, or
// sources that are nothing but "*".
func allowsAll(rule node) bool {
	if len(rule.Get("to").Items()) > 0 || len(rule.Get("when").Items()) > 0 {
		return false
	}
	from := rule.Get("from").Items()
	if len(from) == 0 {
		return true
	}
	for _, fr := range from {
		src := fr.Get("source")
		entries := src.Entries()
		if len(entries) == 0 {
			return true
		}
		all := true
		for _, e := range entries {
			if !wildcardOnly(e.Value.Strings()) {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

var meshNoAllowAllAuthorization = Rule{
	Name:        "mesh-no-allow-all-authorization",
	Description: "No Istio AuthorizationPolicy allows every request.",
	Remediation: "Give each ALLOW rule a source (principals of the calling service accounts) and the operations " +
		"it needs; an empty rule {} or a '*' source allows everyone.",
	Class: Invariant,
	CheckResource: func(r Resource, p Params) []Finding {
		if !is(r, "security.istio.io", "AuthorizationPolicy") {
			return nil
		}
		f := &findings{urn: r.URN}
		spec := root(r.Props).Get("spec")
		action := spec.Get("action")
		if action.Unknown() {
			f.unknown(action)
			return f.out
		}
		if a, _ := action.Str(); a != "" && a != "ALLOW" {
			return nil
		}
		rules := spec.Get("rules")
		if rules.Unknown() {
			f.unknown(rules)
			return f.out
		}
		for i, rule := range rules.Items() {
			if rule.HasUnknown() {
				f.unknown(rule)
				continue
			}
			if allowsAll(rule) {
				f.fail("AuthorizationPolicy %q: rules[%d] allows all requests", displayName(r), i)
			}
		}
		return f.out
	},
}

var canaryWeightsSum100 = Rule{
	Name:        "canary-weights-sum-100",
	Description: "Weighted routes of every VirtualService sum to 100.",
	Remediation: "Make the destination weights of each http/tcp/tls route add up to exactly 100 " +
		"(e.g. stable 90, canary 10).",
	Class: Invariant,
	CheckResource: func(r Resource, p Params) []Finding {
		if !is(r, "networking.istio.io", "VirtualService") {
			return nil
		}
		f := &findings{urn: r.URN}
		spec := root(r.Props).Get("spec")
		for _, proto := range []string{"http", "tcp", "tls"} {
			routes := spec.Get(proto)
			if routes.Unknown() {
				f.unknown(routes)
				continue
			}
			for i, rt := range routes.Items() {
				dests := rt.Get("route")
				if dests.Unknown() {
					f.unknown(dests)
					continue
				}
				items := dests.Items()
				if len(items) < 2 {
					continue // a single destination gets all traffic whatever its weight says
				}
				sum, weights, unknown := 0.0, []string{}, false
				for _, d := range items {
					w := d.Get("weight")
					if w.Unknown() {
						f.unknown(w)
						unknown = true
						break
					}
					v, _ := w.Num()
					sum += v
					weights = append(weights, strconv.FormatFloat(v, 'f', -1, 64))
				}
				if !unknown && sum != 100 {
					name, _ := rt.Get("name").Str()
					f.fail("VirtualService %q: %s[%d] %q weights %s sum to %v, not 100", displayName(r), proto, i, name,
						strings.Join(weights, "+"), sum)
				}
			}
		}
		return f.out
	},
}
