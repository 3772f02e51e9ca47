package versions_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ordermesh/ordermesh/components/versions"
	"github.com/ordermesh/ordermesh/components/versions/crdcheck"
)

var exactSemver = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

func TestChartsArePinnedExactly(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range versions.Charts() {
		if !exactSemver.MatchString(c.Version) {
			t.Errorf("chart %s: version %q is not an exact x.y.z pin", c.Name, c.Version)
		}
		if !strings.HasPrefix(c.Repo, "https://") && !c.IsOCI() {
			t.Errorf("chart %s: repo %q must be https:// or oci://", c.Name, c.Repo)
		}
		if seen[c.Name] {
			t.Errorf("chart %s pinned twice", c.Name)
		}
		seen[c.Name] = true
	}
}

func TestStrimziChartComesFromOCI(t *testing.T) {
	if !versions.StrimziOperator.IsOCI() {
		t.Fatalf("strimzi chart must come from the OCI registry, got %q", versions.StrimziOperator.Repo)
	}
	if versions.Istiod.IsOCI() {
		t.Fatalf("istiod repo %q wrongly reported as OCI", versions.Istiod.Repo)
	}
}

func TestAPIVersionsAreServedByUpstreamCRDs(t *testing.T) {
	dir, err := crdcheck.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdcheck.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions.APIVersions() {
		if !set.Has(v.APIVersion, v.Kind) {
			t.Errorf("%s %s is not served by any CRD in %s", v.APIVersion, v.Kind, dir)
		}
	}
}
