// Package productpage is the productpage stand-in's handler: it calls
// Bookinfo's details API and reports what it got and who answered.
package productpage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"
)

// DefaultDetailsURL is Bookinfo's details API as productpage calls it.
const DefaultDetailsURL = "http://details:9080/details/0"

// StandIn names what answers, so nobody takes it for Bookinfo's productpage.
const StandIn = "productpage STAND-IN (VirtMesh), not Bookinfo's productpage"

// Handler serves the stand-in's pages.
type Handler struct {
	// DetailsURL is called on every GET /.
	DetailsURL string
	// Pod names this pod in answers (its host name).
	Pod string
	// Client calls DetailsURL (default: a client with a 10 s timeout).
	Client *http.Client
	// Log gets one line per call (nil: none).
	Log io.Writer
}

// Answer is what GET / returns, as JSON.
type Answer struct {
	StandIn    string `json:"standIn"`
	Pod        string `json:"pod,omitempty"`
	DetailsURL string `json:"detailsURL"`
	// AnsweredBy is the address the call connected to (a Service's
	// cluster IP and port, or a pod's).
	AnsweredBy string `json:"answeredBy,omitempty"`
	// Status is the details API's HTTP status, 0 when the call failed.
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	// Details is the body when it is JSON, Body otherwise.
	Details   json.RawMessage `json:"details,omitempty"`
	Body      string          `json:"body,omitempty"`
	Error     string          `json:"error,omitempty"`
	ElapsedMS int64           `json:"elapsedMs"`
}

// Mux routes / and /productpage to the call and /healthz to "ok".
func (h *Handler) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serve)
	mux.HandleFunc("GET /productpage", h.serve)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	a := h.Call(r.Context())
	if h.Log != nil {
		fmt.Fprintf(h.Log, "productpage-standin: %s %s from %s: details %s -> status=%d answeredBy=%s error=%q in %dms\n",
			r.Method, r.URL.Path, r.RemoteAddr, a.DetailsURL, a.Status, a.AnsweredBy, a.Error, a.ElapsedMS)
	}
	w.Header().Set("Content-Type", "application/json")
	if a.Error != "" {
		w.WriteHeader(http.StatusBadGateway)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(a)
}

// Call calls the details API once.
func (h *Handler) Call(ctx context.Context) (a Answer) {
	a = Answer{StandIn: StandIn, Pod: h.Pod, DetailsURL: h.DetailsURL}
	start := time.Now()
	defer func() { a.ElapsedMS = time.Since(start).Milliseconds() }()
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { a.AnsweredBy = ci.Conn.RemoteAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, h.DetailsURL, http.NoBody)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	resp, err := client.Do(req)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	a.Headers = map[string]string{}
	for k := range resp.Header {
		a.Headers[k] = resp.Header.Get(k)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		a.Error = "reading the answer: " + err.Error()
	}
	if json.Valid(body) {
		a.Details = body
	} else {
		a.Body = string(body)
	}
	return a
}

// Print calls the details API once and writes the Answer as indented JSON
// to w. It is the image's `get` command: the image has no shell or curl, so
// `kubectl exec` into productpage runs this to call a Service by name from
// inside the pod. The error says why the call did not succeed (a transport
// error or a status of 400 and above).
func (h *Handler) Print(ctx context.Context, w io.Writer) error {
	a := h.Call(ctx)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(a); err != nil {
		return err
	}
	switch {
	case a.Error != "":
		return fmt.Errorf("GET %s: %s", a.DetailsURL, a.Error)
	case a.Status >= http.StatusBadRequest:
		return fmt.Errorf("GET %s: status %d", a.DetailsURL, a.Status)
	}
	return nil
}
