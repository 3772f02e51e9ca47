// Package image builds OCI images of the service binaries without a Docker
// daemon or a registry: a small distroless-like base layer assembled here
// (passwd/group for a non-root user, /tmp, CA certificates when the build
// host has them) plus one layer holding the static binary, written as an OCI
// image layout and as docker-loadable tarballs (go-containerregistry).
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the uid/gid the services run as (distroless' "nonroot").
const NonRoot = 65532

// Spec describes one service image.
type Spec struct {
	Service string
	// Binary is the static Linux binary to ship.
	Binary string
	OS     string // default linux
	Arch   string // default amd64
	// CACerts is a PEM bundle to install, or "" for none.
	CACerts string
	// Created is the image creation time (zero keeps builds reproducible).
	Created time.Time
}

type file struct {
	name string
	mode int64
	dir  bool
	body []byte
	uid  int
}

func layer(files []file, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: created, Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
}

// BaseLayer is the distroless-like root filesystem.
func BaseLayer(caCerts string, created time.Time) (v1.Layer, error) {
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot))},
		{name: "etc/group", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRoot))},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: NonRoot},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "data/", mode: 0o700, dir: true, uid: NonRoot},
	}
	if caCerts != "" {
		pem, err := os.ReadFile(caCerts)
		if err != nil {
			return nil, fmt.Errorf("image: CA bundle: %w", err)
		}
		files = append(files, file{name: "etc/ssl/", mode: 0o755, dir: true}, file{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: pem})
	}
	return layer(files, created)
}

// Build assembles the image of one service.
func Build(s Spec) (v1.Image, error) {
	if s.OS == "" {
		s.OS = "linux"
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: %s binary: %w", s.Service, err)
	}
	base, err := BaseLayer(s.CACerts, s.Created)
	if err != nil {
		return nil, err
	}
	app, err := layer([]file{
		{name: "usr/", mode: 0o755, dir: true}, {name: "usr/local/", mode: 0o755, dir: true}, {name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: "usr/local/bin/" + s.Service, mode: 0o755, body: bin},
	}, s.Created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = s.OS, s.Arch, v1.Time{Time: s.Created}
	cf.Config = v1.Config{
		Entrypoint: []string{"/usr/local/bin/" + s.Service},
		User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/usr/local/bin",
			"ORDERMESH_GRPC_ADDR=:8080",
			"ORDERMESH_HTTP_ADDR=:9090",
			"ORDERMESH_DATABASE_URL=/data/" + s.Service + ".db",
		},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":  "ordermesh-" + s.Service,
			"org.opencontainers.image.source": "https://github.com/ordermesh/ordermesh",
		},
	}
	return mutate.ConfigFile(img, cf)
}
