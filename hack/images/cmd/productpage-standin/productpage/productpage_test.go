package productpage

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func get(t *testing.T, h *Handler, path string) (int, Answer) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, http.NoBody))
	var a Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("GET %s: answer is not JSON: %v\n%s", path, err, rec.Body)
	}
	return rec.Code, a
}

func TestCallsDetailsAndSaysWhoAnswered(t *testing.T) {
	details := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/details/0" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", "vm details-v1")
		_, _ = w.Write([]byte(`{"id":0,"author":"William Shakespeare"}`))
	}))
	defer details.Close()
	for _, path := range []string{"/", "/productpage"} {
		h := &Handler{DetailsURL: details.URL + "/details/0", Pod: "productpage-0"}
		code, a := get(t, h, path)
		if code != http.StatusOK || a.Status != http.StatusOK || a.Error != "" {
			t.Fatalf("GET %s: code %d, answer %+v", path, code, a)
		}
		if want := details.Listener.Addr().String(); a.AnsweredBy != want {
			t.Errorf("answeredBy = %q, want %q", a.AnsweredBy, want)
		}
		var details bytes.Buffer
		if err := json.Compact(&details, a.Details); err != nil || details.String() != `{"id":0,"author":"William Shakespeare"}` || a.Body != "" {
			t.Errorf("details = %s, body = %q", a.Details, a.Body)
		}
		if a.Headers["X-Served-By"] != "vm details-v1" || a.StandIn != StandIn || a.Pod != "productpage-0" {
			t.Errorf("answer = %+v", a)
		}
	}
}

func TestNonJSONBodyIsKeptAsText(t *testing.T) {
	details := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("upstream connect error"))
	}))
	defer details.Close()
	code, a := get(t, &Handler{DetailsURL: details.URL}, "/")
	// The call itself worked: productpage reports the details API's status.
	if code != http.StatusOK || a.Status != http.StatusServiceUnavailable || a.Body != "upstream connect error" || a.Details != nil {
		t.Fatalf("code %d, answer %+v", code, a)
	}
}

func TestUnreachableDetailsIsABadGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var log strings.Builder
	code, a := get(t, &Handler{DetailsURL: "http://" + addr + "/details/0", Log: &log}, "/")
	if code != http.StatusBadGateway || a.Status != 0 || !strings.Contains(a.Error, "connection refused") {
		t.Fatalf("code %d, answer %+v", code, a)
	}
	if !strings.Contains(log.String(), "connection refused") {
		t.Errorf("log = %q", log.String())
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Handler{}).Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", http.NoBody))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", rec.Code, rec.Body)
	}
}

func TestPrint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/details/0" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"id":0}`))
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name, url string
		wantErr   string
		wantJSON  string
	}{
		{name: "answered", url: srv.URL + "/details/0", wantJSON: `{"id":0}`},
		{name: "not found", url: srv.URL + "/details/1", wantErr: "status 404"},
		{name: "nobody listens", url: closed.URL + "/details/0", wantErr: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			h := &Handler{DetailsURL: tc.url}
			err := h.Print(context.Background(), &out)
			if gotErr := errString(err); !strings.Contains(gotErr, tc.wantErr) || (tc.wantErr == "") != (err == nil) {
				t.Fatalf("Print error %q, want one containing %q", gotErr, tc.wantErr)
			}
			var a Answer
			if err := json.Unmarshal(out.Bytes(), &a); err != nil {
				t.Fatalf("Print wrote no Answer: %v\n%s", err, out.String())
			}
			var details bytes.Buffer
			if len(a.Details) > 0 {
				if err := json.Compact(&details, a.Details); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.wantJSON, details.String()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
