package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// kubeClient is the few REST calls localcluster needs; a client library
// would add a large dependency for a handful of requests.
type kubeClient struct {
	server string
	token  string
	http   *http.Client
}

func newKubeClient(server string, caPEM []byte, token string) (*kubeClient, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("invalid CA certificate")
	}
	return &kubeClient{
		server: server,
		token:  token,
		http: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// apiError is a non-2xx answer of the API server.
type apiError struct {
	Code int
	Body string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, strings.TrimSpace(e.Body))
}

func (c *kubeClient) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{Code: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// apply server-side applies one object given as YAML or JSON.
func (c *kubeClient) apply(ctx context.Context, path string, doc []byte) error {
	return c.do(ctx, http.MethodPatch, path+"?fieldManager=localcluster&force=true", "application/apply-patch+yaml", doc, nil)
}

func isStatus(err error, code int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == code
}

// crdDoc is one CustomResourceDefinition found in a CRD directory.
type crdDoc struct {
	Name string
	File string
	Body []byte
}

// readCRDs returns every CustomResourceDefinition in the YAML files of dir,
// sorted by name. Other kinds are ignored; a file that is not YAML is an error.
func readCRDs(dir string) ([]crdDoc, error) {
	var out []crdDoc
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if obj == nil || obj["kind"] != "CustomResourceDefinition" {
				continue
			}
			meta, _ := obj["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if name == "" {
				return fmt.Errorf("%s: CustomResourceDefinition without metadata.name", path)
			}
			body, err := json.Marshal(obj)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, name, err)
			}
			out = append(out, crdDoc{Name: name, File: path, Body: body})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("crds %s: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// applyCRDs applies the CRDs and waits until every one is Established.
func (c *kubeClient) applyCRDs(ctx context.Context, crds []crdDoc) error {
	const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
	for _, crd := range crds {
		if err := c.apply(ctx, base+crd.Name, crd.Body); err != nil {
			return fmt.Errorf("apply CRD %s (from %s): %w", crd.Name, crd.File, err)
		}
	}
	for _, crd := range crds {
		err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
			var obj struct {
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
				} `json:"status"`
			}
			if err := c.do(ctx, http.MethodGet, base+crd.Name, "", nil, &obj); err != nil {
				return false, nil
			}
			for _, cond := range obj.Status.Conditions {
				if cond.Type == "Established" && cond.Status == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not Established: %w", crd.Name, err)
		}
	}
	return nil
}

// poll calls check every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, check func() (bool, error)) error {
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
