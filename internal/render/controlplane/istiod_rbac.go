package controlplane

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// istiod's permissions are exactly what Istio's chart grants istiod by
// default (manifests/charts/istio-control/istio-discovery/templates/
// clusterrole.yaml and role.yaml of the pinned istio.io/istio, rendered with
// no values): test/istio runs that istiod with these rules and fails on any
// RBAC denial it logs. Rules the chart grants only with non-default values are
// left out: status writes for enableAnalysis, nodes patch for the CNI taint
// controller, certificatesigningrequests for an external CA, and
// clustertrustbundles for ENABLE_CLUSTER_TRUST_BUNDLE_API.
//
// The wildcards are the chart's: read access to every kind of Istio's API
// groups and of the Gateway API groups (the kinds appear as their CRDs are
// installed), and every verb on ingresses/status. The operator holds each of
// these rules itself (RBAC escalation prevention; see the markers in
// controllers/mesh).

// istioGroups are the API groups of Istio's own configuration, current and
// legacy (the chart keeps the legacy ones so older istiods running alongside
// keep working).
var istioGroups = []string{
	"config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io",
	"rbac.istio.io", "telemetry.istio.io", "extensions.istio.io",
}

// gatewayAPIGroups are the Kubernetes Gateway API groups (standard and
// experimental).
var gatewayAPIGroups = []string{"gateway.networking.k8s.io", "gateway.networking.x-k8s.io"}

var allVerbs = []string{"get", "watch", "list", "update", "patch", "create", "delete"}

// IstiodClusterRules are istiod's cluster-wide permissions
// (ClusterRole istiod[-<rev>]-<namespace>).
func IstiodClusterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Sidecar injector and config validation webhooks (CA bundle patching).
		rule([]string{"admissionregistration.k8s.io"}, []string{"mutatingwebhookconfigurations"}, []string{"get", "list", "watch", "update", "patch"}),
		rule([]string{"admissionregistration.k8s.io"}, []string{"validatingwebhookconfigurations"}, []string{"get", "list", "watch", "update"}),
		// Istio configuration.
		rule(istioGroups, []string{"*"}, []string{"get", "watch", "list"}),
		rule([]string{"networking.istio.io"}, []string{"workloadentries"}, allVerbs),
		rule([]string{"networking.istio.io"}, []string{"workloadentries/status", "serviceentries/status"}, allVerbs),
		rule([]string{"security.istio.io"}, []string{"authorizationpolicies/status"}, allVerbs),
		rule(core, []string{"services/status"}, allVerbs),
		// Which CRDs are installed.
		rule([]string{"apiextensions.k8s.io"}, []string{"customresourcedefinitions"}, readVerbs),
		// Service discovery.
		rule(core, []string{"pods", "nodes", "services", "namespaces", "endpoints"}, readVerbs),
		rule([]string{"discovery.k8s.io"}, []string{"endpointslices"}, readVerbs),
		// Ingress controller (mesh config ingressControllerMode, default STRICT).
		rule([]string{"networking.k8s.io"}, []string{"ingresses", "ingressclasses"}, readVerbs),
		rule([]string{"networking.k8s.io"}, []string{"ingresses/status"}, []string{"*"}),
		// The CA's namespace controller writes istio-ca-root-cert everywhere.
		rule(core, []string{"configmaps"}, []string{"create", "get", "list", "watch", "update"}),
		// Verifying the proxies' JWTs; authorizing gateways' SDS reads.
		rule([]string{"authentication.k8s.io"}, []string{"tokenreviews"}, []string{"create"}),
		rule([]string{"authorization.k8s.io"}, []string{"subjectaccessreviews"}, []string{"create"}),
		// Gateway API and the inference extension.
		rule(gatewayAPIGroups, []string{"*"}, []string{"get", "watch", "list"}),
		rule([]string{"gateway.networking.x-k8s.io"}, []string{"xbackendtrafficpolicies/status"}, []string{"update", "patch"}),
		rule([]string{"gateway.networking.k8s.io"}, []string{
			"backendtlspolicies/status", "gatewayclasses/status", "gateways/status", "grpcroutes/status", "httproutes/status",
			"referencegrants/status", "tcproutes/status", "tlsroutes/status", "udproutes/status", "listenersets/status",
		}, []string{"update", "patch"}),
		rule([]string{"gateway.networking.k8s.io"}, []string{"gatewayclasses"}, []string{"create", "update", "patch", "delete"}),
		rule([]string{"inference.networking.k8s.io"}, []string{"inferencepools"}, []string{"get", "watch", "list"}),
		rule([]string{"inference.networking.k8s.io"}, []string{"inferencepools/status"}, []string{"update", "patch"}),
		// Multicluster secrets and gateway credentials.
		rule(core, []string{"secrets"}, []string{"get", "watch", "list"}),
		// Multi-cluster services.
		rule([]string{"multicluster.x-k8s.io"}, []string{"serviceexports"}, []string{"get", "watch", "list", "create", "delete"}),
		rule([]string{"multicluster.x-k8s.io"}, []string{"serviceimports"}, []string{"get", "watch", "list"}),
	}
}

// IstiodGatewayControllerRules let istiod deploy the proxies of Gateway API
// Gateways (ClusterRole istiod-gateway-controller[-<rev>]-<namespace>; the
// chart grants it unless PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER is
// "false").
func IstiodGatewayControllerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule([]string{"apps"}, []string{"deployments"}, allVerbs),
		rule([]string{"autoscaling"}, []string{"horizontalpodautoscalers"}, allVerbs),
		rule([]string{"policy"}, []string{"poddisruptionbudgets"}, allVerbs),
		rule(core, []string{"services"}, allVerbs),
		rule(core, []string{"serviceaccounts"}, allVerbs),
	}
}

// IstiodNamespaceRules are istiod's permissions in the control-plane namespace
// (Role istiod[-<rev>]): a dry-run Gateway create (checks the validating
// webhook), its CA secret, status ConfigMaps and per-revision leader election.
func IstiodNamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule([]string{"networking.istio.io"}, []string{"gateways"}, []string{"create"}),
		rule(core, []string{"secrets"}, []string{"create", "get", "watch", "list", "update", "delete"}),
		rule(core, []string{"configmaps"}, []string{"delete"}),
		rule([]string{"coordination.k8s.io"}, []string{"leases"}, []string{"get", "update", "patch", "create"}),
	}
}
