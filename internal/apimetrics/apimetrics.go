// Package apimetrics counts the operator's requests to the API server by
// Kubernetes verb, resource and subresource, which client-go's own request
// metrics (rest_client_requests_total: code, method, host) do not tell apart.
// The scale run (test/bench/scale) reads it to report reads and writes per
// VMI: a pod create, a VMI status patch and a lease update are all a POST,
// PATCH or PUT to client-go.
package apimetrics

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// MetricName is the counter's name on the operator's metrics endpoint.
const MetricName = "virtmesh_apiserver_requests_total"

// Requests counts requests by verb (get, list, watch, create, update, patch,
// delete, deletecollection), API group, resource, subresource and HTTP code
// ("error" when no response came back).
var Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: MetricName,
	Help: "Requests the operator sent to the API server, by Kubernetes verb, API group, resource, subresource and HTTP status code.",
}, []string{"verb", "group", "resource", "subresource", "code"})

// Instrument makes every client built from cfg count its requests in
// Requests. Call it before the manager is created from cfg.
func Instrument(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return roundTripper{next: rt} })
}

type roundTripper struct{ next http.RoundTripper }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	info := Parse(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	Requests.WithLabelValues(info.Verb, info.Group, info.Resource, info.Subresource, code).Inc()
	return resp, err
}

// Info is what a request path says about the request.
type Info struct {
	Verb, Group, Resource, Subresource string
}

// Parse maps an HTTP method and API path onto the Kubernetes verb and the
// resource, the way the API server's RequestInfo does for the paths a
// client sends (/api/v1/..., /apis/<group>/<version>/...). Discovery and
// other non-resource paths give resource "" and verb "get".
func Parse(method, path, watch string) Info {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var info Info
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		info.Group = parts[1]
		parts = parts[3:]
	default:
		info.Verb = strings.ToLower(method)
		return info
	}
	// namespaces/<ns>/<resource>..., except the namespace itself and its
	// own subresources (namespaces/<ns>, namespaces/<ns>/status|finalize).
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	if len(parts) > 0 {
		info.Resource = parts[0]
	}
	named := len(parts) >= 2
	if len(parts) >= 3 {
		info.Subresource = parts[2]
	}
	switch method {
	case http.MethodGet:
		switch {
		case watch == "true" || watch == "1":
			info.Verb = "watch"
		case named:
			info.Verb = "get"
		default:
			info.Verb = "list"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if named {
			info.Verb = "delete"
		} else {
			info.Verb = "deletecollection"
		}
	default:
		info.Verb = strings.ToLower(method)
	}
	return info
}

// IsWrite reports whether verb changes state on the server.
func IsWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}
