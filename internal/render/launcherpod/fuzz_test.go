package launcherpod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/testing/crdschema"
)

// renderErrorsAllowed are the render errors a VMI the CRD schema accepts
// may still get: inputs the schema cannot see (the unproxied-ports
// annotation, checked against the declared ports) or compare at a cost the
// API server allows (requests against limits, requests.memory's range, the
// size of the JSON the launcher gets). Each becomes a condition on the VMI. Any other error for an admitted VMI is a
// bug: the schema let through what the renderer refuses.
var renderErrorsAllowed = []string{
	virtv1alpha1.AnnotationExcludeInboundPorts, "too large to hand to its launcher pod",
	"limits.memory", "requests.cpu", "requests.memory",
}

// checkPodAdmissible checks what the API server would refuse in a pod
// whatever its spec: names, labels, the annotations' size, container and
// volume names, mounts of declared volumes.
func checkPodAdmissible(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	var errs field.ErrorList
	errs = append(errs, apivalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, metav1validation.ValidateLabels(pod.Labels, field.NewPath("metadata", "labels"))...)
	if pod.Spec.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(pod.Spec.Hostname) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "hostname"), pod.Spec.Hostname, msg))
		}
	}
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(field.NewPath("spec", "volumes"), v.Name))
		}
		volumes[v.Name] = true
	}
	names := map[string]bool{}
	portNames := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		p := field.NewPath("spec", "containers").Key(c.Name)
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p, c.Name))
		}
		names[c.Name] = true
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, field.NotFound(p.Child("volumeMounts"), m.Name))
			}
		}
		for _, port := range c.Ports {
			if port.Name == "" {
				continue
			}
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("ports"), port.Name, msg))
			}
			if portNames[port.Name] {
				errs = append(errs, field.Duplicate(p.Child("ports"), port.Name))
			}
			portNames[port.Name] = true
		}
		for name, limit := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(p.Child("resources", "requests").Key(string(name)), req.String(), "must be less than or equal to the limit "+limit.String()))
			}
		}
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			if a == "" || strings.ContainsRune(a, 0) {
				errs = append(errs, field.Invalid(p.Child("args"), a, "empty or NUL in an argument"))
			}
		}
	}
	if len(errs) > 0 {
		t.Fatalf("the API server would refuse the pod: %v", errs.ToAggregate())
	}
}

// FuzzRenderLauncherPod renders the launcher pod of every VMI the CRD
// schema admits (decoded from fuzzed JSON by internal/testing/crdschema),
// in and out of the mesh. The render must succeed (but for the inputs the
// schema cannot check), be deterministic, pass checkInvariants (the same
// invariants the golden tests hold every pod to) and be a pod the API
// server accepts.
func FuzzRenderLauncherPod(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, enrolled bool) {
		vmi, ok := crdschema.AdmitVMI(data)
		if !ok {
			return
		}
		mesh := testSettings()
		if !enrolled {
			mesh = nil
		}
		// Every claim as the controller resolves a bound one.
		opts := testOpts
		opts.Claims = map[string]Claim{}
		for _, vol := range vmi.Spec.Volumes {
			if vol.PersistentVolumeClaim != nil {
				opts.Claims[vol.PersistentVolumeClaim.ClaimName] = Claim{Capacity: resource.MustParse("10Gi")}
			}
		}
		pod, err := RenderLauncherPod(vmi, mesh, opts)
		if err != nil {
			for _, s := range renderErrorsAllowed {
				if strings.Contains(err.Error(), s) {
					return
				}
			}
			t.Fatalf("RenderLauncherPod of an admitted VMI: %v", err)
		}
		again, err := RenderLauncherPod(vmi.DeepCopy(), mesh, opts)
		if err != nil || !equality.Semantic.DeepEqual(pod, again) {
			t.Fatalf("RenderLauncherPod is not deterministic (%v)", err)
		}
		checkInvariants(t, pod, enrolled)
		checkPodAdmissible(t, pod)
	})
}
