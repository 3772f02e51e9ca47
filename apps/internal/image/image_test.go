package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildRunsTheBinaryAsNonRootFromItsOwnLayer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "svc")
	if err := os.WriteFile(bin, []byte("\x7fELF fake binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Spec{Service: "order", Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || cf.Config.Entrypoint[0] != "/usr/local/bin/order" || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config %+v", cf.Config)
	}
	if mt, _ := img.MediaType(); mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers %d %v, want base + app", len(layers), err)
	}
	files := map[string]*tar.Header{}
	var body []byte
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = h
			if h.Name == "usr/local/bin/order" {
				body, _ = io.ReadAll(tr)
			}
		}
		rc.Close()
	}
	if string(body) != "\x7fELF fake binary" || files["usr/local/bin/order"].Mode != 0o755 {
		t.Errorf("binary layer holds %q", body)
	}
	for _, want := range []string{"etc/passwd", "etc/group", "tmp/", "home/nonroot/"} {
		if files[want] == nil {
			t.Errorf("base layer lacks %s", want)
		}
	}
	// Same inputs, same digest: builds are reproducible.
	again, _ := Build(Spec{Service: "order", Binary: bin})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
}
