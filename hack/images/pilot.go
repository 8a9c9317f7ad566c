package main

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"virtmesh.io/virtmesh/internal/imagebuild"
	"virtmesh.io/virtmesh/internal/proxystandin"
)

// PilotDiscoveryPath is where Istio's pilot image has istiod's binary and
// what its entrypoint runs: the Deployment VirtMesh renders sets no
// command, only the arguments ("discovery", ...), so the image's
// entrypoint must be pilot-discovery.
const PilotDiscoveryPath = "/usr/local/bin/pilot-discovery"

// PilotUID is the user Istio's pilot image runs as (1337, the same uid as
// the proxy). The rendered Deployment says runAsNonRoot without a
// runAsUser, so the kubelet needs a numeric, non-zero user in the image.
const PilotUID = proxystandin.UID

// PilotWorkingDir is "/" because istiod resolves its default files against
// its working directory (./etc/cacerts for a plug-in CA,
// ./var/run/secrets/tokens/istio-token, ./var/lib/istio/inject,
// ./etc/istio/config/mesh): the rendered Deployment mounts the cacerts and
// istio-token volumes at the absolute paths those name from "/".
const PilotWorkingDir = "/"

// PilotPorts are istiod's listeners, as the rendered Deployment declares
// them (readiness and debug, plaintext xDS, xDS and CA over TLS,
// monitoring, webhooks).
var PilotPorts = []int{8080, 15010, 15012, 15014, 15017}

// pilot is istiod's image from the pinned pilot-discovery, laid out as
// Istio's pilot image (binary, user, entrypoint). Nothing else is added:
// istiod trusts the API server through the ServiceAccount mount's ca.crt,
// writes only into the volumes the Deployment mounts (its root file system
// is read-only), reads its mesh config from ConfigMap istio[-<rev>] when
// the file is absent, and without injection templates (file or ConfigMap
// istio-sidecar-injector) skips its injection webhook: VirtMesh renders
// the launcher pods' proxies itself.
func pilot(bin string) *imagebuild.Image {
	ports := map[string]struct{}{}
	for _, p := range PilotPorts {
		ports[fmt.Sprintf("%d/tcp", p)] = struct{}{}
	}
	img := static(bin, PilotDiscoveryPath, PilotUID, v1.Config{ExposedPorts: ports})
	img.Config.WorkingDir = PilotWorkingDir
	return img
}
