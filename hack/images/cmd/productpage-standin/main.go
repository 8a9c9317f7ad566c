// Command productpage-standin is a STAND-IN for Bookinfo's productpage,
// the localhost/virtmesh/productpage-standin image: a client pod for the
// local cluster's end-to-end test. GET / (or /productpage) calls
// DETAILS_URL (default http://details:9080/details/0, Bookinfo's details
// API, which the test serves from a VM) and answers, as JSON, what it got
// and who answered: the address it connected to, the status, the headers
// and the body. GET /healthz answers "ok". It listens on PORT (default 9080).
//
// `productpage-standin get [URL]` makes that call once from the command line
// and prints the answer: the image has no shell or curl, so this is what
// `kubectl exec` into the productpage pod runs.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"virtmesh.io/virtmesh/hack/images/cmd/productpage-standin/productpage"
)

func main() {
	port := envOr("PORT", "9080")
	h := productpage.Handler{
		DetailsURL: envOr("DETAILS_URL", productpage.DefaultDetailsURL),
		Log:        os.Stderr,
	}
	h.Pod, _ = os.Hostname()
	if len(os.Args) > 1 && os.Args[1] == "get" {
		if len(os.Args) > 2 {
			h.DetailsURL = os.Args[2]
		}
		if err := h.Print(context.Background(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "productpage-standin:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "productpage-standin: STAND-IN for Bookinfo's productpage on :%s, details at %s\n", port, h.DetailsURL)
	srv := &http.Server{Addr: ":" + port, Handler: h.Mux(), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "productpage-standin:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
