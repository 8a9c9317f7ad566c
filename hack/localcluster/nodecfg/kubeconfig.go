package nodecfg

// ClusterName names the cluster in kubeconfigs.
const ClusterName = "virtmesh-local"

// Kubeconfig is a kubeconfig for user (a client certificate) on server,
// trusting caPEM; the PEM data is embedded so the file stands alone.
func Kubeconfig(server, user string, caPEM, certPEM, keyPEM []byte) []byte {
	ctx := user + "@" + ClusterName
	return marshalYAML(map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{
			"name":    ClusterName,
			"cluster": map[string]any{"server": server, "certificate-authority-data": caPEM},
		}},
		"users": []any{map[string]any{
			"name": user,
			"user": map[string]any{"client-certificate-data": certPEM, "client-key-data": keyPEM},
		}},
		"contexts": []any{map[string]any{
			"name":    ctx,
			"context": map[string]any{"cluster": ClusterName, "user": user},
		}},
		"current-context": ctx,
	})
}
