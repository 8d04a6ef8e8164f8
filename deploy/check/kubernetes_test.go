package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// root is the repository.
var root = filepath.Join("..", "..")

// objects is an overlay's output, each object decoded strictly (an unknown
// or mistyped field fails) into its Go type, by kind and name.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	pvcs        map[string]*corev1.PersistentVolumeClaim
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	monitors    map[string]*monitoringv1.ServiceMonitor
	accounts    map[string]*corev1.ServiceAccount
}

func build(t *testing.T, overlay string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy", "kubernetes", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	o := objects{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*corev1.Secret{},
		map[string]*corev1.PersistentVolumeClaim{}, map[string]*policyv1.PodDisruptionBudget{},
		map[string]*autoscalingv2.HorizontalPodAutoscaler{}, map[string]*monitoringv1.ServiceMonitor{},
		map[string]*corev1.ServiceAccount{}}
	for _, r := range res.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		gvk := r.GetGvk()
		switch gvk.ApiVersion() + "/" + gvk.Kind {
		case "apps/v1/Deployment":
			decode(t, raw, o.deployments, r.GetName())
		case "v1/Service":
			decode(t, raw, o.services, r.GetName())
		case "v1/Secret":
			decode(t, raw, o.secrets, r.GetName())
		case "v1/PersistentVolumeClaim":
			decode(t, raw, o.pvcs, r.GetName())
		case "policy/v1/PodDisruptionBudget":
			decode(t, raw, o.pdbs, r.GetName())
		case "autoscaling/v2/HorizontalPodAutoscaler":
			decode(t, raw, o.hpas, r.GetName())
		case "monitoring.coreos.com/v1/ServiceMonitor":
			decode(t, raw, o.monitors, r.GetName())
		case "v1/ServiceAccount":
			decode(t, raw, o.accounts, r.GetName())
		default:
			t.Errorf("%s: %s %s is a kind this check does not know", overlay, gvk, r.GetName())
		}
	}
	return o
}

// decode reads raw into its Go type strictly: a field the type does not
// have is an error, and so is one it only has in another letter case
// (encoding/json would take it), found by marshalling the object back and
// looking for every field of raw in it.
func decode[T any](t *testing.T, raw []byte, into map[string]*T, name string) {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(raw, v); err != nil {
		t.Errorf("%s: %v\n%s", name, err, raw)
	}
	var orig, back any
	again, _ := json.Marshal(v)
	if err := yaml.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(again, &back)
	for _, p := range missing(orig, back, "") {
		t.Errorf("%s: field %s is not a field of its type", name, p)
	}
	into[name] = v
}

// missing lists the paths of a that b lacks.
func missing(a, b any, path string) []string {
	switch a := a.(type) {
	case map[string]any:
		bm, _ := b.(map[string]any)
		var out []string
		for k, v := range a {
			bv, ok := bm[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, missing(v, bv, path+"."+k)...)
		}
		return out
	case []any:
		bl, _ := b.([]any)
		var out []string
		for i, v := range a {
			if i >= len(bl) {
				return append(out, fmt.Sprintf("%s[%d]", path, i))
			}
			out = append(out, missing(v, bl[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	return nil
}

// TestKubernetesOverlays builds both overlays and checks what the issue of
// running refundd on a cluster needs of them.
func TestKubernetesOverlays(t *testing.T) {
	for _, overlay := range []string{"single", "ha"} {
		t.Run(overlay, func(t *testing.T) {
			o := build(t, overlay)
			d := o.deployments["refundd"]
			if d == nil {
				t.Fatal("no Deployment refundd")
			}
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			c := pod.Containers[0]
			// Labels select what they should.
			sel := d.Spec.Selector.MatchLabels
			for k, v := range sel {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the pod labels %v", k, v, d.Spec.Template.Labels)
				}
			}
			for name, svc := range o.services {
				for k, v := range svc.Spec.Selector {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("service %s selects %s=%s, not on the pods", name, k, v)
					}
				}
			}
			// Probes on /health and /ready, on a port the container has.
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			for what, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				want := map[string]string{"liveness": "/health", "readiness": "/ready"}[what]
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || ports[probe.HTTPGet.Port.String()] == 0 {
					t.Errorf("%s probe %+v, want GET %s on a named container port", what, probe, want)
				}
			}
			// Resources and the security context.
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
			}
			psc, sc := pod.SecurityContext, c.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.FSGroup == nil {
				t.Errorf("pod security context %+v: want non-root with an fsGroup", psc)
			}
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("container security context %+v: want read-only root, no privilege escalation, all capabilities dropped", sc)
			}
			// Every secret the pod mounts or reads is generated here, or is
			// one the operator provides (documented in the overlay).
			provided := map[string]bool{"refundd-tls": true, "refundd-postgres": overlay == "ha", "refundd-log-hash-key": overlay == "ha"}
			for _, v := range pod.Volumes {
				if v.Secret != nil && o.secrets[v.Secret.SecretName] == nil && !provided[v.Secret.SecretName] {
					t.Errorf("volume %s: secret %s is neither generated nor documented", v.Name, v.Secret.SecretName)
				}
				if v.PersistentVolumeClaim != nil && o.pvcs[v.PersistentVolumeClaim.ClaimName] == nil {
					t.Errorf("volume %s: no claim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
				}
			}
			if o.pdbs["refundd"] == nil || o.monitors["refundd"] == nil {
				t.Errorf("want a PodDisruptionBudget and a ServiceMonitor")
			}
			if m := o.monitors["refundd"]; m != nil && (len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "diagnostic") {
				t.Errorf("ServiceMonitor endpoints %+v", m.Spec.Endpoints)
			}
			data := volumeFor(pod, c, "/data")
			switch overlay {
			case "single":
				if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || len(o.hpas) != 0 {
					t.Errorf("single: replicas %d, strategy %s, %d autoscalers: want 1, Recreate, none (SQLite has one writer)", *d.Spec.Replicas, d.Spec.Strategy.Type, len(o.hpas))
				}
				if data == nil || data.PersistentVolumeClaim == nil || data.EmptyDir != nil {
					t.Errorf("single: /data is %+v, want the persistent volume claim only", data)
				}
				if !slices.Contains(c.Args, "--log-wal=on") {
					t.Error("single: the write-ahead log (--log-wal) belongs on the claim with SQLite")
				}
			case "ha":
				hpa := o.hpas["refundd"]
				if *d.Spec.Replicas < 2 || hpa == nil || hpa.Spec.ScaleTargetRef.Name != "refundd" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" ||
					hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
					t.Errorf("ha: replicas %d, autoscaler %+v: want several, scaling the Deployment", *d.Spec.Replicas, hpa)
				}
				if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
					return e.Name == "REFUNDD_DB_URL" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
				}) {
					t.Error("ha: REFUNDD_DB_URL does not come from a secret")
				}
				if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--log-hash-key-file=") }) {
					t.Error("ha: replicas must share the log hash key (--log-hash-key-file)")
				}
			}
			// The arguments work: the real binary started with them.
			runArgs(t, c, o)
		})
	}
}

// volumeFor is the volume mounted at path.
func volumeFor(pod corev1.PodSpec, c corev1.Container, path string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				return &pod.Volumes[i]
			}
		}
	}
	return nil
}

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refundd-check-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "refundd")
	// Built in refundd's own module, with its own dependency versions.
	out, err := exec.Command("go", "build", "-C", root, "-o", binary, "./cmd/refundd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building refundd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runArgs starts refundd with the container's arguments, its mounts mapped
// to local files (the policies of the repository, the generated tokens
// secret, a throwaway certificate), and its listeners on loopback: it must
// come up, answer the probes on the diagnostic port, and want a token on
// the API port over TLS.
func runArgs(t *testing.T, c corev1.Container, o objects) {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{"/policies": filepath.Join(root, "policies"), "/data": filepath.Join(dir, "data")}
	for _, m := range c.VolumeMounts {
		if _, ok := paths[m.MountPath]; !ok {
			paths[m.MountPath] = filepath.Join(dir, filepath.Base(m.MountPath))
			_ = os.MkdirAll(paths[m.MountPath], 0o755)
		}
	}
	for name, s := range o.secrets {
		if strings.HasPrefix(name, "refundd-tokens") {
			for k, v := range s.Data {
				_ = os.WriteFile(filepath.Join(paths["/etc/refundd/tokens"], k), v, 0o600)
			}
		}
	}
	writeCert(t, paths["/etc/refundd/tls"])
	_ = os.WriteFile(filepath.Join(paths["/etc/refundd/log-hash"], "key"), bytes.Repeat([]byte("ab"), 32), 0o600)
	var args []string
	for _, a := range c.Args {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--addr", "--diagnostic-addr":
			value = "127.0.0.1:0"
		}
		for mount, local := range paths {
			if value == mount || strings.HasPrefix(value, mount+"/") {
				value = local + strings.TrimPrefix(value, mount)
			}
		}
		if value != "" {
			a = name + "=" + value
		}
		args = append(args, a)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=512MiB")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrs := map[string]string{}
	var logs strings.Builder
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for (addrs["serving"] == "" || addrs["serving diagnostics"] == "") && sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Addr != "" {
			addrs[line.Msg] = line.Addr
		}
	}
	go func() { _, _ = bufio.NewReader(stderr).WriteTo(new(bytes.Buffer)) }()
	if addrs["serving"] == "" || addrs["serving diagnostics"] == "" {
		t.Fatalf("refundd %s did not start:\n%s", strings.Join(args, " "), logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, path := range []string{"/health", "/ready", "/metrics"} {
		if code := get(ctx, t, http.DefaultClient, "http://"+addrs["serving diagnostics"]+path); code != 200 {
			t.Errorf("diagnostic %s: %d", path, code)
		}
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if code := get(ctx, t, insecure, "https://"+addrs["serving"]+"/v1/merchants"); code != 401 {
		t.Errorf("API without a token: %d, want 401", code)
	}
}

func get(ctx context.Context, t *testing.T, c *http.Client, url string) int {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return resp.StatusCode
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeCert writes a throwaway self-signed tls.crt and tls.key into dir,
// as a kubernetes.io/tls secret holds them.
func writeCert(t *testing.T, dir string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "refundd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
