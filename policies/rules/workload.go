package rules

import (
	"slices"
	"strings"
)

// workload is the pod template of a workload resource.
type workload struct {
	spec   node // the pod spec
	labels node // the pod template's labels
	batch  bool // Jobs and CronJobs run to completion: no probes, no PDB
}

// podOf returns the pod template of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and
// Pods.
func podOf(r Resource) (workload, bool) {
	g, k := kind(r.Type)
	n := root(r.Props)
	switch {
	case g == "apps" && (k == "Deployment" || k == "StatefulSet" || k == "DaemonSet" || k == "ReplicaSet"):
		t := n.Path("spec", "template")
		return workload{spec: t.Get("spec"), labels: t.Path("metadata", "labels")}, true
	case g == "batch" && k == "Job":
		t := n.Path("spec", "template")
		return workload{spec: t.Get("spec"), labels: t.Path("metadata", "labels"), batch: true}, true
	case g == "batch" && k == "CronJob":
		t := n.Path("spec", "jobTemplate", "spec", "template")
		return workload{spec: t.Get("spec"), labels: t.Path("metadata", "labels"), batch: true}, true
	case g == "" && k == "Pod":
		return workload{spec: n.Get("spec"), labels: n.Path("metadata", "labels")}, true
	}
	return workload{}, false
}

// appWorkload returns the pod template of a workload outside the system namespaces.
func appWorkload(r Resource, p Params) (workload, bool) {
	w, ok := podOf(r)
	if !ok {
		return w, false
	}
	if ns, _ := namespace(r); p.system(ns) {
		return w, false
	}
	return w, true
}

// containers returns the containers (and, with init, the init containers) of a pod spec; an unknown list is
// reported as such.
func containers(f *findings, spec node, init bool) []node {
	lists := []string{"containers"}
	if init {
		lists = append(lists, "initContainers")
	}
	var out []node
	for _, l := range lists {
		n := spec.Get(l)
		if n.Unknown() {
			f.unknown(n)
			continue
		}
		out = append(out, n.Items()...)
	}
	return out
}

func containerName(c node) string {
	if s, ok := c.Get("name").Str(); ok {
		return s
	}
	return c.path
}

// require reports n as unknown or, when absent, as a violation with msg.
func require(f *findings, n node, format string, args ...any) {
	switch {
	case n.Unknown():
		f.unknown(n)
	case n.Missing():
		f.fail(format, args...)
	}
}

var workloadResources = Rule{
	Name:        "workload-resources",
	Description: "Every container sets CPU and memory requests and limits.",
	Remediation: "Set resources.requests.{cpu,memory} and resources.limits.{cpu,memory} on every container " +
		"(components/service sets them from the stack profile).",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		w, ok := appWorkload(r, p)
		if !ok {
			return nil
		}
		f := &findings{urn: r.URN}
		for _, c := range containers(f, w.spec, true) {
			for _, kind := range []string{"requests", "limits"} {
				for _, res := range []string{"cpu", "memory"} {
					require(f, c.Path("resources", kind, res), "container %q: resources.%s.%s is not set",
						containerName(c), kind, res)
				}
			}
		}
		return f.out
	},
}

var workloadProbes = Rule{
	Name:        "workload-probes",
	Description: "Every long-running container has a readiness and a liveness probe.",
	Remediation: "Add readinessProbe and livenessProbe (gRPC health or HTTP /healthz) to every container; " +
		"Jobs and CronJobs are exempt.",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		w, ok := appWorkload(r, p)
		if !ok || w.batch {
			return nil
		}
		f := &findings{urn: r.URN}
		for _, c := range containers(f, w.spec, false) {
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				require(f, c.Get(probe), "container %q: %s is not set", containerName(c), probe)
			}
		}
		return f.out
	},
}

// imageProblem says what is wrong with an image reference, "" when it is pinned by tag or digest.
func imageProblem(image string) string {
	if strings.Contains(image, "@sha256:") {
		return ""
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndex(name, ":")
	switch {
	case i < 0:
		return "has no tag (which means latest)"
	case name[i+1:] == "latest":
		return "uses the latest tag"
	}
	return ""
}

var imageTagPinned = Rule{
	Name:        "image-tag-pinned",
	Description: "Container images are pinned to a version tag or digest, never latest or untagged.",
	Remediation: "Use an explicit version tag (registry/app:1.4.2) or a digest (registry/app@sha256:...).",
	Class:       Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		w, ok := appWorkload(r, p)
		if !ok {
			return nil
		}
		f := &findings{urn: r.URN}
		for _, c := range containers(f, w.spec, true) {
			img := c.Get("image")
			if img.Unknown() {
				f.unknown(img)
				continue
			}
			s, _ := img.Str()
			if s == "" {
				f.fail("container %q: image is not set", containerName(c))
				continue
			}
			if msg := imageProblem(s); msg != "" {
				f.fail("container %q: image %q %s", containerName(c), s, msg)
			}
		}
		return f.out
	},
}

var containerSecurityContext = Rule{
	Name: "container-security-context",
	Description: "Containers run as non-root with a read-only root filesystem, drop ALL capabilities, " +
		"forbid privilege escalation and use a seccomp profile.",
	Remediation: "Set securityContext on every container: runAsNonRoot: true, readOnlyRootFilesystem: true, " +
		"allowPrivilegeEscalation: false, capabilities.drop: [ALL], privileged unset or false, and " +
		"seccompProfile.type: RuntimeDefault (on the pod or the container).",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		w, ok := appWorkload(r, p)
		if !ok {
			return nil
		}
		f := &findings{urn: r.URN}
		pod := w.spec.Get("securityContext")
		for _, c := range containers(f, w.spec, true) {
			name := containerName(c)
			sc := c.Get("securityContext")

			// runAsNonRoot and seccompProfile may be set on the pod; the container's value wins.
			nonRoot := sc.Get("runAsNonRoot")
			if nonRoot.Missing() {
				nonRoot = pod.Get("runAsNonRoot")
			}
			expectBool(f, nonRoot, true, "container %q: runAsNonRoot must be true", name)
			expectBool(f, sc.Get("readOnlyRootFilesystem"), true,
				"container %q: readOnlyRootFilesystem must be true", name)
			expectBool(f, sc.Get("allowPrivilegeEscalation"), false,
				"container %q: allowPrivilegeEscalation must be false", name)
			if priv := sc.Get("privileged"); priv.Unknown() {
				f.unknown(priv)
			} else if priv.IsTrue() {
				f.fail("container %q: privileged must not be true", name)
			}

			drop := sc.Path("capabilities", "drop")
			switch {
			case drop.HasUnknown() && !slices.Contains(drop.Strings(), "ALL"):
				f.unknown(drop)
			case !slices.Contains(drop.Strings(), "ALL"):
				f.fail("container %q: capabilities.drop must contain ALL", name)
			}

			seccomp := sc.Path("seccompProfile", "type")
			if seccomp.Missing() {
				seccomp = pod.Path("seccompProfile", "type")
			}
			if seccomp.Unknown() {
				f.unknown(seccomp)
			} else if s, _ := seccomp.Str(); s != "RuntimeDefault" && s != "Localhost" {
				f.fail("container %q: seccompProfile.type must be RuntimeDefault or Localhost (got %q)", name, s)
			}
		}
		return f.out
	},
}

// expectBool reports n unless it is known to equal want.
func expectBool(f *findings, n node, want bool, format string, args ...any) {
	if n.Unknown() {
		f.unknown(n)
		return
	}
	if b, ok := n.Bool(); !ok || b != want {
		f.fail(format, args...)
	}
}

var noHostAccess = Rule{
	Name:        "no-host-access",
	Description: "Pods do not share the node's network, PID or IPC namespaces and mount no hostPath volumes.",
	Remediation: "Remove hostNetwork, hostPID, hostIPC and hostPath volumes; use a Service, emptyDir or a " +
		"PersistentVolumeClaim instead.",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		w, ok := appWorkload(r, p)
		if !ok {
			return nil
		}
		f := &findings{urn: r.URN}
		for _, field := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			n := w.spec.Get(field)
			if n.Unknown() {
				f.unknown(n)
			} else if n.IsTrue() {
				f.fail("%s must not be true", field)
			}
		}
		vols := w.spec.Get("volumes")
		if vols.Unknown() {
			f.unknown(vols)
		}
		for _, v := range vols.Items() {
			if hp := v.Get("hostPath"); hp.Unknown() {
				f.unknown(hp)
			} else if !hp.Missing() {
				name, _ := v.Get("name").Str()
				f.fail("volume %q mounts a hostPath", name)
			}
		}
		return f.out
	},
}
