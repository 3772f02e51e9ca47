package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// appWorkloads returns the workloads of the stack outside system namespaces, in stack order.
type stackWorkload struct {
	r  Resource
	w  workload
	ns string
}

func appWorkloads(rs []Resource, p Params, f *findings) []stackWorkload {
	var out []stackWorkload
	for _, r := range rs {
		w, ok := podOf(r)
		if !ok {
			continue
		}
		ns, nsNode := namespace(r)
		if nsNode.Unknown() {
			f.out = append(f.out, Finding{URN: r.URN, Unknown: true, Field: nsNode.path})
			continue
		}
		if p.system(ns) {
			continue
		}
		out = append(out, stackWorkload{r: r, w: w, ns: ns})
	}
	return out
}

// RoleLabel on a Namespace names its role in ordermesh (infra labels every namespace it creates): "apps"
// holds the order services; any other role (kafka, mesh, vault, observability, ...) is platform machinery.
const RoleLabel = "ordermesh.io/role"

// platformNamespaces are the namespaces the stack creates with a role other than apps.
func platformNamespaces(rs []Resource) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		if !is(r, "", "Namespace") {
			continue
		}
		role, ok := root(r.Props).Path("metadata", "labels", RoleLabel).Str()
		if ok && role != "apps" {
			out[displayName(r)] = true
		}
	}
	return out
}

// inAppNamespaces keeps the workloads outside platform namespaces: the network and mesh rules are about the
// application namespaces.
func inAppNamespaces(rs []Resource, ws []stackWorkload) []stackWorkload {
	platform := platformNamespaces(rs)
	return slices.DeleteFunc(ws, func(w stackWorkload) bool { return platform[w.ns] })
}

// appNamespaces are the namespaces that hold the given workloads.
func appNamespaces(ws []stackWorkload) []string {
	var out []string
	for _, w := range ws {
		if !slices.Contains(out, w.ns) {
			out = append(out, w.ns)
		}
	}
	return out
}

func ofKind(rs []Resource, group, k string) []Resource {
	var out []Resource
	for _, r := range rs {
		if is(r, group, k) {
			out = append(out, r)
		}
	}
	return out
}

// intOrPercent parses a Kubernetes IntOrString; percent is true for "N%".
func intOrPercent(n node) (v float64, percent, ok bool) {
	if s, isStr := n.Str(); isStr && strings.HasSuffix(s, "%") {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		return f, true, err == nil
	}
	f, isNum := n.Num()
	return f, false, isNum
}

// allowedDisruptions is how many of replicas pods a PDB lets the eviction API take down at once; percentages
// round up, as the disruption controller does.
func allowedDisruptions(spec node, replicas int) (int, string) {
	if v, pct, ok := intOrPercent(spec.Get("maxUnavailable")); ok {
		if pct {
			v = math.Ceil(float64(replicas) * v / 100)
		}
		return int(v), fmt.Sprintf("maxUnavailable %v", describe(spec.Get("maxUnavailable")))
	}
	if v, pct, ok := intOrPercent(spec.Get("minAvailable")); ok {
		if pct {
			v = math.Ceil(float64(replicas) * v / 100)
		}
		return replicas - int(v), fmt.Sprintf("minAvailable %v with %d replicas", describe(spec.Get("minAvailable")), replicas)
	}
	return 0, "neither minAvailable nor maxUnavailable"
}

func describe(n node) string {
	if s, ok := n.Str(); ok {
		return s
	}
	if f, ok := n.Num(); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return "?"
}

var replicatedDeploymentPDB = Rule{
	Name: "replicated-deployment-pdb",
	Description: "Every Deployment with two or more replicas has a PodDisruptionBudget that allows at least " +
		"one disruption, so node drains neither take it down nor hang.",
	Remediation: "Create a policy/v1 PodDisruptionBudget in the Deployment's namespace selecting its pod labels " +
		"with minAvailable below the replica count (prod: replicas 3, minAvailable 2) or maxUnavailable >= 1.",
	Class: Safety,
	CheckStack: func(rs []Resource, p Params) []Finding {
		f := &findings{}
		pdbs := ofKind(rs, "policy", "PodDisruptionBudget")
		for _, sw := range appWorkloads(rs, p, f) {
			if !is(sw.r, "apps", "Deployment") {
				continue
			}
			f.urn = sw.r.URN
			rep := root(sw.r.Props).Path("spec", "replicas")
			if rep.Unknown() {
				f.unknown(rep)
				continue
			}
			replicas := 1 // the Kubernetes default
			if v, ok := rep.Num(); ok {
				replicas = int(v)
			} else if hpa, ok := hpaMinReplicas(rs, sw); ok {
				// Autoscaled Deployments often leave spec.replicas unset; the HPA's floor is what drains meet.
				replicas = hpa
			}
			if replicas < 2 {
				continue
			}
			found, undecided := false, false
			for _, pdb := range pdbs {
				ns, nsNode := namespace(pdb)
				spec := root(pdb.Props).Get("spec")
				m, unk := selects(spec.Get("selector"), sw.w.labels)
				switch {
				case nsNode.Unknown():
					f.unknown(nsNode)
					undecided = true
					continue
				case ns != sw.ns || m == matchNo:
					continue
				case m == matchUnknown:
					f.unknown(unk)
					undecided = true
					continue
				}
				found = true
				if spec.Get("minAvailable").Unknown() || spec.Get("maxUnavailable").Unknown() {
					f.unknown(spec)
					continue
				}
				if n, why := allowedDisruptions(spec, replicas); n < 1 {
					f.fail("Deployment %q: PodDisruptionBudget %q allows no disruption (%s), which blocks node drains",
						displayName(sw.r), displayName(pdb), why)
				}
			}
			if !found && !undecided {
				f.fail("Deployment %q has %d replicas but no PodDisruptionBudget selects its pods",
					displayName(sw.r), replicas)
			}
		}
		return f.out
	},
}

// defaultDeny reports whether a NetworkPolicy selects every pod and denies all ingress.
func defaultDeny(np Resource) bool {
	spec := root(np.Props).Get("spec")
	if !emptySelector(spec.Get("podSelector")) {
		return false
	}
	// Kubernetes defaults policyTypes to [Ingress] (plus Egress when egress rules exist).
	types := spec.Get("policyTypes")
	ingress := types.Missing() || slices.Contains(types.Strings(), "Ingress")
	return ingress && len(spec.Get("ingress").Items()) == 0 && !spec.Get("ingress").Unknown()
}

var namespaceDefaultDeny = Rule{
	Name: "namespace-default-deny",
	Description: "Every app namespace (one that runs workloads and is not labelled as a platform namespace) has " +
		"a default-deny NetworkPolicy.",
	Remediation: "Add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, Egress] and no ingress rules " +
		"to the namespace; allow traffic per workload with further policies.",
	Class: Safety,
	CheckStack: func(rs []Resource, p Params) []Finding {
		f := &findings{}
		ws := inAppNamespaces(rs, appWorkloads(rs, p, f))
		nps := ofKind(rs, "networking.k8s.io", "NetworkPolicy")
		for _, ns := range appNamespaces(ws) {
			covered, undecided := false, false
			for _, np := range nps {
				npNS, nsNode := namespace(np)
				spec := root(np.Props).Get("spec")
				switch {
				case nsNode.Unknown():
					undecided = true
					f.urn = np.URN
					f.unknown(nsNode)
					continue
				case npNS != ns:
					continue
				case spec.HasUnknown():
					undecided = true
					f.urn = np.URN
					f.unknown(spec)
					continue
				}
				if defaultDeny(np) {
					covered = true
				}
			}
			if !covered && !undecided {
				// Attach the finding to the first workload of the namespace so it points at something real.
				for _, w := range ws {
					if w.ns == ns {
						f.urn = w.r.URN
						break
					}
				}
				f.fail("namespace %q has no default-deny NetworkPolicy", ns)
			}
		}
		return f.out
	},
}

var workloadNetworkPolicy = Rule{
	Name: "workload-network-policy",
	Description: "Every workload is selected by a NetworkPolicy written for it (a non-empty podSelector), not " +
		"only by the namespace default.",
	Remediation: "Add a NetworkPolicy whose podSelector matches the workload's pod labels and allows exactly " +
		"the traffic it needs (components/service creates one per service).",
	Class: Safety,
	CheckStack: func(rs []Resource, p Params) []Finding {
		f := &findings{}
		nps := ofKind(rs, "networking.k8s.io", "NetworkPolicy")
		for _, sw := range inAppNamespaces(rs, appWorkloads(rs, p, f)) {
			f.urn = sw.r.URN
			selected, undecided := false, false
			for _, np := range nps {
				npNS, nsNode := namespace(np)
				sel := root(np.Props).Path("spec", "podSelector")
				if nsNode.Unknown() {
					f.unknown(nsNode)
					undecided = true
					continue
				}
				if npNS != sw.ns || emptySelector(sel) {
					continue
				}
				switch m, unk := selects(sel, sw.w.labels); m {
				case matchYes:
					selected = true
				case matchUnknown:
					f.unknown(unk)
					undecided = true
				}
			}
			if !selected && !undecided {
				_, k := kind(sw.r.Type)
				f.fail("%s %q in namespace %q is selected by no NetworkPolicy of its own", k, displayName(sw.r), sw.ns)
			}
		}
		return f.out
	},
}

// hpaMinReplicas returns the minReplicas of a HorizontalPodAutoscaler scaling the Deployment (1 when unset).
func hpaMinReplicas(rs []Resource, sw stackWorkload) (int, bool) {
	for _, r := range rs {
		if g, k := kind(r.Type); g != "autoscaling" || k != "HorizontalPodAutoscaler" {
			continue
		}
		if ns, _ := namespace(r); ns != sw.ns {
			continue
		}
		spec := root(r.Props).Get("spec")
		tk, _ := spec.Path("scaleTargetRef", "kind").Str()
		tn, _ := spec.Path("scaleTargetRef", "name").Str()
		if tk != "Deployment" || tn != displayName(sw.r) {
			continue
		}
		if v, ok := spec.Get("minReplicas").Num(); ok {
			return int(v), true
		}
		return 1, true
	}
	return 0, false
}
