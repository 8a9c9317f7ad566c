package main

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/imagebuild"
	"virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// renderedIstiod is the istiod Deployment the operator renders for a
// MeshControlPlane naming the local image, as the local cluster's mesh does.
func renderedIstiod(t *testing.T) *appsv1.Deployment {
	t.Helper()
	mcp := &meshv1alpha1.MeshControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "basic", Namespace: "istio-system"},
		Spec: meshv1alpha1.MeshControlPlaneSpec{
			Version: "1.30.0", ClusterDomain: "cluster.local",
			Images: meshv1alpha1.ImagesSpec{Istiod: Registry + "pilot:" + Tag, Proxy: Registry + "proxy-standin:" + Tag},
		},
	}
	v, problems := controlplane.Resolve(mcp, config.Images{})
	if len(problems) > 0 {
		t.Fatalf("resolve: %v", problems)
	}
	objs, err := controlplane.Discovery(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	t.Fatal("Discovery rendered no Deployment")
	return nil
}

// TestPilotImageFitsRenderedDeployment checks the image against what the
// rendered istiod Deployment leaves to it, so the Deployment runs
// unchanged on the real node: the entrypoint (it sets no command), a
// numeric non-root user (runAsNonRoot without runAsUser), the working
// directory that istiod's relative default paths resolve against (they
// must land on the rendered mounts), the ports, and the binary itself.
func TestPilotImageFitsRenderedDeployment(t *testing.T) {
	dep := renderedIstiod(t)
	if dep.Spec.Template.Spec.Containers[0].Image != Registry+"pilot:"+Tag {
		t.Fatalf("the Deployment runs %q, not spec.images.istiod", dep.Spec.Template.Spec.Containers[0].Image)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	img := pilot("/bin/pilot-discovery")

	if len(c.Command) != 0 {
		t.Errorf("the rendered container sets command %q: the image's entrypoint would not run", c.Command)
	}
	if diff := cmp.Diff([]string{PilotDiscoveryPath}, img.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if len(c.Args) == 0 || c.Args[0] != "discovery" {
		t.Errorf("rendered args %q do not start with pilot-discovery's discovery command", c.Args)
	}

	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser != nil {
		t.Fatalf("the rendered security context changed (%+v): revisit the image's user", sc)
	}
	uid, gid, ok := strings.Cut(img.Config.User, ":")
	if n, err := strconv.Atoi(uid); !ok || err != nil || n == 0 {
		t.Errorf("user %q: the kubelet admits runAsNonRoot only for a numeric non-zero uid", img.Config.User)
	}
	if _, err := strconv.Atoi(gid); err != nil {
		t.Errorf("user %q: numeric group wanted", img.Config.User)
	}

	// istiod's defaults, relative to its working directory (its flags and
	// env in the pinned module), and the rendered volume each must be on.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, tc := range []struct{ rel, volume string }{
		{"./etc/cacerts", "cacerts"},                            // ROOT_CA_DIR: a plug-in CA
		{"./var/run/secrets/tokens/istio-token", "istio-token"}, // the CA's audience-bound token
	} {
		got := filepath.Join(img.Config.WorkingDir, tc.rel)
		mp, ok := mounts[tc.volume]
		if !ok || !strings.HasPrefix(got+"/", strings.TrimSuffix(mp, "/")+"/") {
			t.Errorf("istiod's %s resolves to %s, not onto volume %s (mounted at %q)", tc.rel, got, tc.volume, mp)
		}
	}

	var rendered, exposed []string
	for _, p := range c.Ports {
		rendered = append(rendered, fmt.Sprintf("%d/tcp", p.ContainerPort))
	}
	for p := range img.Config.ExposedPorts {
		exposed = append(exposed, p)
	}
	slices.Sort(rendered)
	slices.Sort(exposed)
	if diff := cmp.Diff(rendered, exposed); diff != "" {
		t.Errorf("exposed ports (-rendered +image):\n%s", diff)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || !slices.Contains(exposed, fmt.Sprintf("%d/tcp", p.HTTPGet.Port.IntVal)) {
		t.Errorf("readiness probe %+v is not on one of the image's ports", p)
	}

	var bin *imagebuild.Entry
	for _, l := range img.Layers {
		if e := l.Get(PilotDiscoveryPath); e != nil {
			bin = e
		}
	}
	want := &imagebuild.Entry{Type: tar.TypeReg, Mode: 0o755, UID: 0, GID: 0, Src: "/bin/pilot-discovery"}
	if bin == nil {
		t.Fatalf("no %s in the image", PilotDiscoveryPath)
	}
	got := &imagebuild.Entry{Type: bin.Type, Mode: bin.Mode, UID: bin.UID, GID: bin.GID, Src: bin.Src}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s, owned by root so istiod cannot replace it (-want +got):\n%s", PilotDiscoveryPath, diff)
	}
}

// TestPilotImageRuns builds the image from bin/pilot-discovery, extracts
// it and runs the binary from inside as the image's user in its working
// directory: it is the pinned build (same version as the host's copy) and
// needs nothing but the image.
func TestPilotImageRuns(t *testing.T) {
	require.Root(t, "the image is run from its extracted root filesystem with chroot")
	bin, err := filepath.Abs("../../bin/pilot-discovery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no bin/pilot-discovery (hack/build-bins.sh pilot-discovery): %v", err)
	}
	img := pilot(bin)
	img.Ref = Registry + "pilot:test"
	built, err := img.Build()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imagebuild.Extract(built, root); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"dev", "proc"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want, err := exec.Command(bin, "version", "--short").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := inRootfs(t, root, img.Config.User, "", PilotDiscoveryPath, "version", "--short")
	if err != nil || !strings.Contains(out, strings.TrimSpace(string(want))) {
		t.Errorf("pilot-discovery in the image as %s: %v\n%s\nwant the version %q", img.Config.User, err, out, strings.TrimSpace(string(want)))
	}
	if !slices.Contains(strings.Split(img.Config.Env[0], ":"), filepath.Dir(PilotDiscoveryPath)) {
		t.Errorf("PATH %q lacks %s", img.Config.Env[0], filepath.Dir(PilotDiscoveryPath))
	}
}
