// Command images builds an OCI image of every service without a Docker
// daemon: it compiles each static binary (CGO_ENABLED=0), checks it is a
// static ELF for the target, assembles the image (apps/internal/image) and
// writes an OCI image layout (out/oci, one tagged manifest per service) and
// docker-loadable tarballs (out/<service>.tar). No base image is pulled.
//
//	go run ./apps/cmd/images -out bin/images [-repo ghcr.io/ordermesh] [-tag 0.1.0] [-arch amd64]
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ordermesh/ordermesh/apps/internal/image"
)

var services = []string{"order", "inventory", "payment", "shipping", "order-query", "notification"}

func main() {
	out := flag.String("out", "bin/images", "output directory")
	tag := flag.String("tag", "0.1.0", "image tag (stacks.DefaultImageTag)")
	repo := flag.String("repo", "ghcr.io/ordermesh", "image repository prefix (stacks.DefaultImageRepository)")
	arch := flag.String("arch", "amd64", "target GOARCH")
	ca := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle to install (skipped when missing)")
	only := flag.String("services", strings.Join(services, ","), "services to build")
	flag.Parse()
	if err := os.MkdirAll(filepath.Join(*out, "bin"), 0o755); err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(*ca); err != nil {
		*ca = ""
	}
	p, err := layout.Write(filepath.Join(*out, "oci"), empty.Index)
	if err != nil {
		log.Fatal(err)
	}
	for _, svc := range strings.Split(*only, ",") {
		bin := filepath.Join(*out, "bin", svc)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./apps/cmd/"+svc)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+*arch)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("build %s: %v", svc, err)
		}
		if err := checkStatic(bin, *arch); err != nil {
			log.Fatalf("%s: %v", svc, err)
		}
		img, err := image.Build(image.Spec{Service: svc, Binary: bin, Arch: *arch, CACerts: *ca})
		if err != nil {
			log.Fatal(err)
		}
		ref, err := name.NewTag(fmt.Sprintf("%s/%s:%s", *repo, svc, *tag))
		if err != nil {
			log.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})); err != nil {
			log.Fatal(err)
		}
		if err := tarball.WriteToFile(filepath.Join(*out, svc+".tar"), ref, img); err != nil {
			log.Fatal(err)
		}
		d, _ := img.Digest()
		fmt.Printf("%s %s\n", ref, d)
	}
}

// checkStatic verifies bin is an ELF for arch with no dynamic loader, so it
// runs on a base image without libc.
func checkStatic(bin, arch string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		return fmt.Errorf("ELF machine %s, want %s", f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (has an ELF interpreter)")
		}
	}
	return nil
}
