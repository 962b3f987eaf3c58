package kubernetes

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/subosito/gotenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"gateway/config"
)

// Names the manifests use.
const (
	gatewayName = "gateway"
	redisName   = "gateway-redis"
	configName  = "gateway-config"
	envKey      = ".env"
)

// image is what the Dockerfile's runtime stage sets: its environment and
// its USER.
type image struct {
	env  map[string]string
	user string
}

// runtimeImage reads the last stage of the repository's Dockerfile.
func runtimeImage(t *testing.T) image {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var img image
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			img = image{env: map[string]string{}}
		case strings.HasPrefix(line, "ENV "):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ENV ")) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile ENV %q is not KEY=value", kv)
				}
				img.env[k] = v
			}
		case strings.HasPrefix(line, "USER "):
			img.user = strings.TrimSpace(strings.TrimPrefix(line, "USER "))
		}
	}
	return img
}

// gatewayPod returns the gateway Deployment and its one container.
func gatewayPod(t *testing.T, r *rendered) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := r.deployments[gatewayName]
	if d == nil || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("no gateway Deployment with one container: %v", d)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// containerEnv resolves the container's environment: literal values and
// secretKeyRefs into the rendered Secrets.
func containerEnv(t *testing.T, r *rendered, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := r.secrets[ref.Name]
			if s == nil {
				t.Fatalf("%s refers to Secret %s, which the base does not hold", e.Name, ref.Name)
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				v, ok = string(s.Data[ref.Key]), s.Data[ref.Key] != nil
			}
			if !ok {
				t.Fatalf("%s refers to key %s of Secret %s, which it lacks", e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = v
		default:
			t.Fatalf("%s: only values and secretKeyRefs are resolved here", e.Name)
		}
	}
	return env
}

// loadedConfig loads the ConfigMap's .env with config.Load, in the
// environment the container gets (the image's ENV, then the container's
// env), and returns the result with the file's own variables.
func loadedConfig(t *testing.T, r *rendered) (*config.Config, gotenv.Env) {
	t.Helper()
	cm := r.configMaps[configName]
	if cm == nil || cm.Data[envKey] == "" {
		t.Fatalf("ConfigMap %s has no %s key", configName, envKey)
	}
	file, err := gotenv.StrictParse(strings.NewReader(cm.Data[envKey]))
	if err != nil {
		t.Fatalf("the ConfigMap's .env does not parse: %v", err)
	}
	for _, n := range config.Names() {
		t.Setenv(n, "") // empty is unset to config.Load: only the pod's environment counts
	}
	_, c := gatewayPod(t, r)
	known := config.Names()
	for _, env := range []map[string]string{runtimeImage(t).env, containerEnv(t, r, c)} {
		for k, v := range env {
			if slices.Contains(known, k) {
				t.Setenv(k, v)
			}
		}
	}
	path := t.TempDir() + "/.env"
	if err := os.WriteFile(path, []byte(cm.Data[envKey]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the pod's configuration does not load:\n%v", err)
	}
	return cfg, file
}

// TestConfigMapIsTheGatewaysConfig: every variable in the ConfigMap's .env
// is one the gateway reads, none is hidden by the container's environment
// (which wins over the file), and the whole loads with config.Load.
func TestConfigMapIsTheGatewaysConfig(t *testing.T) {
	r := build(t, "base")
	cfg, file := loadedConfig(t, r)
	known := config.Names()
	_, c := gatewayPod(t, r)
	img, env := runtimeImage(t), containerEnv(t, r, c)
	for k := range file {
		if !slices.Contains(known, k) {
			t.Errorf("the ConfigMap sets %s, which the gateway does not read", k)
		}
		if _, ok := img.env[k]; ok {
			t.Errorf("the ConfigMap sets %s, which the image's ENV overrides", k)
		}
		if _, ok := env[k]; ok {
			t.Errorf("the ConfigMap sets %s, which the container's env overrides", k)
		}
	}
	if !cfg.ConfigWatch {
		t.Error("CONFIG_WATCH is off: ConfigMap edits would wait for a restart")
	}
	if !cfg.Production() || !cfg.AuthRequired {
		t.Errorf("the pod runs with APP_ENV=%s, auth required %v", cfg.AppEnv, cfg.AuthRequired)
	}
}

// TestGatewayDeployment checks what the Deployment means for the gateway.
func TestGatewayDeployment(t *testing.T) {
	r := build(t, "base")
	cfg, _ := loadedConfig(t, r)
	d, c := gatewayPod(t, r)
	spec := d.Spec.Template.Spec

	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %s, want >= 2", show(d.Spec.Replicas))
	}
	port := containerPort(t, c, intstr.FromString("http"))
	if port != cfg.Port {
		t.Errorf("container port %d, but the gateway listens on %d", port, cfg.Port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || containerPort(t, c, p.probe.HTTPGet.Port) != cfg.Port {
			t.Errorf("%s probe GETs %s on %s, want %s on %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, cfg.Port)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(cfg.Port) {
		t.Errorf("scrape annotations %v do not point at /metrics on %d", ann, cfg.Port)
	}
	rp := c.ReadinessProbe
	if seen := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second; cfg.ShutdownDelay > 0 && seen >= cfg.ShutdownDelay {
		t.Errorf("readiness notices a 503 after %v, not within SHUTDOWN_DELAY_MS (%v)", seen, cfg.ShutdownDelay)
	}

	budget := cfg.ShutdownDelay + cfg.ShutdownTimeout
	if spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= budget {
		t.Errorf("terminationGracePeriodSeconds %s, want above SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS = %v",
			show(spec.TerminationGracePeriodSeconds), budget)
	}

	if c.WorkingDir == "" {
		t.Fatal("no workingDir: the gateway reads ./.env")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		v := volume(spec, m.Name)
		if v == nil || v.ConfigMap == nil || v.ConfigMap.Name != configName {
			continue
		}
		mounted = true
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Error("the ConfigMap is mounted with subPath, which never sees updates")
		}
		if m.MountPath != c.WorkingDir {
			t.Errorf("the ConfigMap is mounted at %s, the working directory is %s", m.MountPath, c.WorkingDir)
		}
		for _, it := range v.ConfigMap.Items {
			if it.Key == envKey && it.Path != envKey {
				t.Errorf("the .env key is projected as %s", it.Path)
			}
		}
	}
	if !mounted {
		t.Errorf("ConfigMap %s is not mounted", configName)
	}

	img := runtimeImage(t)
	uid, _, _ := strings.Cut(img.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("the image's USER %q is not a numeric non-root user (runAsNonRoot cannot verify a name)", img.user)
	}
	if ps := spec.SecurityContext; ps == nil || ps.RunAsUser == nil || strconv.FormatInt(*ps.RunAsUser, 10) != uid {
		t.Errorf("the pod's runAsUser is not the image's USER %s", img.user)
	}

	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		if v := containerEnv(t, r, c)["GOMEMLIMIT"]; v != "" {
			q, err := resource.ParseQuantity(strings.TrimSuffix(v, "B"))
			if err != nil || q.Cmp(lim) >= 0 {
				t.Errorf("GOMEMLIMIT %s (%v) is not below the memory limit %s", v, err, lim.String())
			}
		}
	}

	spread := false
	for _, tsc := range spec.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && selects(t, tsc.LabelSelector, d.Spec.Template.Labels) {
			spread = true
		}
	}
	if !spread {
		t.Error("the pods are not spread over nodes (kubernetes.io/hostname)")
	}
}

// TestEveryContainerIsLockedDown: each container of each Deployment runs as
// a non-root user, with a read-only root filesystem, no privilege
// escalation, no capabilities, and resource requests and limits.
func TestEveryContainerIsLockedDown(t *testing.T) {
	r := build(t, "base")
	if len(r.deployments) < 2 {
		t.Fatalf("%d Deployments, want the gateway's and Redis's", len(r.deployments))
	}
	for name, d := range r.deployments {
		ps := d.Spec.Template.Spec.SecurityContext
		for _, c := range d.Spec.Template.Spec.Containers {
			where := name + "/" + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (ps != nil && ps.RunAsNonRoot != nil && *ps.RunAsNonRoot)
			uid := sc.RunAsUser
			if uid == nil && ps != nil {
				uid = ps.RunAsUser
			}
			if !nonRoot || uid == nil || *uid == 0 {
				t.Errorf("%s: not runAsNonRoot with a non-zero runAsUser", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: root filesystem writable", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: privilege escalation allowed", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities not dropped (ALL)", where)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					t.Errorf("%s: no %s request", where, res)
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					t.Errorf("%s: no %s limit", where, res)
				}
			}
		}
	}
}

// TestSelectorsMatch: the PDB, HPA and Services find the pods they are for,
// and no others; REDIS_URL names the Redis Service.
func TestSelectorsMatch(t *testing.T) {
	r := build(t, "base")
	cfg, _ := loadedConfig(t, r)
	gw, c := gatewayPod(t, r)
	redis := r.deployments[redisName]
	if redis == nil {
		t.Fatal("no Redis Deployment")
	}
	gwLabels, redisLabels := gw.Spec.Template.Labels, redis.Spec.Template.Labels

	pdb := r.pdbs[gatewayName]
	if pdb == nil {
		t.Fatal("no gateway PodDisruptionBudget")
	}
	if !selects(t, pdb.Spec.Selector, gwLabels) || selects(t, pdb.Spec.Selector, redisLabels) {
		t.Errorf("the PDB's selector %v does not pick out the gateway pods", pdb.Spec.Selector)
	}
	if !selects(t, gw.Spec.Selector, gwLabels) {
		t.Error("the Deployment's selector does not match its own pods")
	}

	hpa := r.hpas[gatewayName]
	if hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != gatewayName {
		t.Fatalf("no HPA scaling the gateway Deployment: %v", hpa)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %s..%d, want a minimum of 2", show(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
	}

	svc := r.services[gatewayName]
	if svc == nil || !matchesMap(svc.Spec.Selector, gwLabels) || matchesMap(svc.Spec.Selector, redisLabels) {
		t.Fatalf("the gateway Service does not select the gateway pods: %v", svc)
	}
	for _, p := range svc.Spec.Ports {
		if containerPort(t, c, p.TargetPort) != cfg.Port {
			t.Errorf("Service port %s targets %s, not the gateway's port", p.Name, p.TargetPort.String())
		}
	}

	rsvc := r.services[redisName]
	if rsvc == nil || !matchesMap(rsvc.Spec.Selector, redisLabels) || matchesMap(rsvc.Spec.Selector, gwLabels) {
		t.Fatalf("the Redis Service does not select the Redis pod: %v", rsvc)
	}
	u, err := url.Parse(cfg.RedisURL)
	if err != nil || u.Hostname() != redisName {
		t.Fatalf("REDIS_URL %q does not name the Service %s", cfg.RedisURL, redisName)
	}
	want := fmt.Sprint(rsvc.Spec.Ports[0].Port)
	if _, port, _ := net.SplitHostPort(u.Host); port != want {
		t.Errorf("REDIS_URL port %q, the Service's is %s", port, want)
	}
}

// TestProductionOverlay renders the base with both components: the
// ServiceMonitor scrapes the gateway Service's port, and the Ingress
// terminates TLS in front of that Service with stream-friendly timeouts
// and no buffering.
func TestProductionOverlay(t *testing.T) {
	r := build(t, "overlays/production")
	svc := r.services[gatewayName]
	if svc == nil {
		t.Fatal("the overlay lost the gateway Service")
	}
	ports := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = true
	}

	sm := r.serviceMonitors[gatewayName]
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	if !selects(t, &sm.Spec.Selector, svc.Labels) || len(sm.Spec.Endpoints) == 0 {
		t.Fatalf("the ServiceMonitor does not select the gateway Service")
	}
	for _, ep := range sm.Spec.Endpoints {
		if !ports[ep.Port] || ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %s%s: not a Service port serving /metrics", ep.Port, ep.Path)
		}
	}

	ing := r.ingresses[gatewayName]
	if ing == nil {
		t.Fatal("no Ingress")
	}
	if len(ing.Spec.TLS) == 0 || ing.Spec.TLS[0].SecretName == "" {
		t.Error("the Ingress does not terminate TLS")
	}
	paths := map[string]bool{}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			paths[p.Path] = true
			b := p.Backend.Service
			if b == nil || b.Name != gatewayName || !ports[b.Port.Name] {
				t.Errorf("Ingress path %s does not go to a port of the gateway Service", p.Path)
			}
		}
	}
	for _, p := range []string{"/api", "/sse", "/ws"} {
		if !paths[p] {
			t.Errorf("the Ingress does not route %s", p)
		}
	}
	if paths["/"] || paths["/metrics"] || paths["/admin"] {
		t.Error("the Ingress exposes the admin or metrics routes")
	}
	const nginx = "nginx.ingress.kubernetes.io/"
	a := ing.Annotations
	for _, k := range []string{"proxy-buffering", "proxy-request-buffering"} {
		if a[nginx+k] != "off" {
			t.Errorf("%s%s = %q, want off (streams pass unbuffered)", nginx, k, a[nginx+k])
		}
	}
	for _, k := range []string{"proxy-read-timeout", "proxy-send-timeout"} {
		if s, err := strconv.Atoi(a[nginx+k]); err != nil || s < 3600 {
			t.Errorf("%s%s = %q, want at least an hour for idle streams", nginx, k, a[nginx+k])
		}
	}
}

// containerPort resolves a probe's or Service's port (a number or a name)
// to the container's port number, failing when it names none.
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return int(cp.ContainerPort)
		}
	}
	t.Errorf("port %s is not a port of container %s", p.String(), c.Name)
	return -1
}

// show prints an optional number.
func show[T int32 | int64](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// selects reports whether a label selector matches a set of labels.
func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

// matchesMap reports whether a Service's map selector matches labels.
func matchesMap(sel, set map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(set))
}
