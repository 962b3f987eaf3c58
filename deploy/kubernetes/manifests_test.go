// Package kubernetes holds the gateway's Kubernetes manifests (a Kustomize
// base, optional components, an overlay) and the tests that keep them
// right: every manifest decoded strictly into the k8s.io/api types, the
// base and the overlay rendered by kustomize's own Go module, and checks of
// what the manifests mean for this gateway.
//
// kubeconform is not used: its schemas are downloaded at run time, and this
// project's machines and CI reach no network but the package registries.
// The strict decode into the API's Go types catches what it would here
// (unknown or misplaced fields, wrong types, bad quantities).
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// newObject returns the Go type for a manifest's apiVersion and kind, or
// nil for one these manifests should not hold.
func newObject(tm metav1.TypeMeta) any {
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	}
	return nil
}

// unmarshalStrict decodes one YAML document into v as the API server does
// with fieldValidation=Strict: YAML to JSON with duplicate keys refused,
// then sigs.k8s.io/json, which matches field names case-sensitively and
// refuses unknown and duplicate fields. (sigs.k8s.io/yaml's own
// UnmarshalStrict ends in encoding/json, which matches names without
// regard to case and so takes "workingdir" for "workingDir".)
func unmarshalStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeStrict decodes one YAML document into its API type, by its
// apiVersion and kind, with unmarshalStrict.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	obj := newObject(tm)
	if obj == nil {
		return nil, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	if err := unmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// documents splits a YAML stream on its document markers, dropping empty
// documents.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// yamlFiles lists every .yaml file under the manifests' directory.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("listing manifests: %v (%d files)", err, len(files))
	}
	return files
}

// TestStrictDecoding: the decoder refuses what the API server's strict
// field validation refuses.
func TestStrictDecoding(t *testing.T) {
	const pod = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          %s\n"
	tests := []struct {
		name, field string
		ok          bool
	}{
		{"known field", "workingDir: /etc/gateway", true},
		{"field in the wrong case", "workingdir: /etc/gateway", false},
		{"unknown field", "workDir: /etc/gateway", false},
		{"duplicate field", "image: a\n          image: b", false},
		{"wrong type", "ports: 8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(fmt.Sprintf(pod, tt.field)))
			if (err == nil) != tt.ok {
				t.Fatalf("decode error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestEveryManifestDecodesStrictly decodes each file as it is written:
// kustomization files into kustomize's own Kustomization type, everything
// else into its API type, unknown fields refused.
func TestEveryManifestDecodesStrictly(t *testing.T) {
	for _, f := range yamlFiles(t) {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(f) == "kustomization.yaml" {
				var k types.Kustomization
				if err := unmarshalStrict(data, &k); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, doc := range documents(data) {
				if _, err := decodeStrict(doc); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestBaseListsEveryFile: a manifest in base/ that kustomization.yaml does
// not list would never be applied.
func TestBaseListsEveryFile(t *testing.T) {
	data, err := os.ReadFile("base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := unmarshalStrict(data, &k); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
	}
	files, _ := filepath.Glob("base/*.yaml")
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !listed[name] {
			t.Errorf("base/%s is not in base/kustomization.yaml's resources", name)
		}
	}
}

// rendered is what `kustomize build` of one directory produced, by kind
// and name.
type rendered struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs            map[string]*policyv1.PodDisruptionBudget
	ingresses       map[string]*networkingv1.Ingress
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	apiVersions     map[string]bool
}

// build renders dir with kustomize's Go module (what kubectl apply -k and
// kustomize build run) and decodes each resource strictly.
func build(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		ingresses: map[string]*networkingv1.Ingress{}, serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
		apiVersions: map[string]bool{},
	}
	for _, res := range m.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s rendered %s: %v", dir, res.CurId(), err)
		}
		r.apiVersions[res.GetApiVersion()] = true
		name := res.GetName()
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments[name] = o
		case *corev1.Service:
			r.services[name] = o
		case *corev1.ConfigMap:
			r.configMaps[name] = o
		case *corev1.Secret:
			r.secrets[name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas[name] = o
		case *policyv1.PodDisruptionBudget:
			r.pdbs[name] = o
		case *networkingv1.Ingress:
			r.ingresses[name] = o
		case *monitoringv1.ServiceMonitor:
			r.serviceMonitors[name] = o
		}
	}
	return r
}

// TestBaseNeedsOnlyBuiltInKinds: `kubectl apply -k` of the base works on a
// cluster with no CRDs installed (the ServiceMonitor is a component).
func TestBaseNeedsOnlyBuiltInKinds(t *testing.T) {
	builtIn := map[string]bool{"v1": true, "apps/v1": true, "autoscaling/v2": true, "policy/v1": true}
	r := build(t, "base")
	for v := range r.apiVersions {
		if !builtIn[v] {
			t.Errorf("the base holds %s, not a built-in API of every cluster", v)
		}
	}
	for _, want := range []struct {
		kind string
		n    int
	}{
		{"Deployment", len(r.deployments)}, {"Service", len(r.services)}, {"ConfigMap", len(r.configMaps)},
		{"Secret", len(r.secrets)}, {"HorizontalPodAutoscaler", len(r.hpas)}, {"PodDisruptionBudget", len(r.pdbs)},
	} {
		if want.n == 0 {
			t.Errorf("the base renders no %s", want.kind)
		}
	}
}
