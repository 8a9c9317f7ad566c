package istio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// xDS type URLs.
const (
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// response is a DiscoveryResponse and when it arrived.
type response struct {
	*discoveryv3.DiscoveryResponse
	at time.Time
}

// ads is an Aggregated Discovery Service stream through a pilot-agent's XDS
// socket, as Envoy holds it: it ACKs every response and keeps them.
type ads struct {
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	conn   *grpc.ClientConn
	mu     sync.Mutex
	names  map[string][]string
	got    chan response
	err    error
}

// dialADS connects to the agent's XDS socket with the node pilot-agent
// generated. GENERATOR=grpc is dropped: it asks istiod for proxyless gRPC's
// format, and we read Envoy's.
func dialADS(t, owner *testing.T, a *agent) *ads {
	t.Helper()
	nodeJSON := a.nodeJSON(t)
	meta, _ := nodeJSON["metadata"].(map[string]any)
	delete(meta, "GENERATOR")
	st, err := structpb.NewStruct(meta)
	if err != nil {
		t.Fatalf("node metadata: %v", err)
	}
	node := &corev3.Node{Id: fmt.Sprint(nodeJSON["id"]), Metadata: st}
	socket := a.xdsSocket(owner)
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatalf("ADS stream through %s: %v", socket, err)
	}
	x := &ads{node: node, stream: stream, conn: conn, names: map[string][]string{}, got: make(chan response, 1000)}
	go x.receive()
	owner.Cleanup(func() { cancel(); _ = conn.Close() })
	return x
}

func (x *ads) receive() {
	for {
		resp, err := x.stream.Recv()
		if err != nil {
			x.mu.Lock()
			x.err = err
			x.mu.Unlock()
			close(x.got)
			return
		}
		x.got <- response{resp, time.Now()}
		x.mu.Lock()
		names := x.names[resp.TypeUrl]
		x.mu.Unlock()
		_ = x.stream.Send(&discoveryv3.DiscoveryRequest{Node: x.node, TypeUrl: resp.TypeUrl, ResourceNames: names,
			VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce})
	}
}

// subscribe asks for typeURL (names empty: all of them).
func (x *ads) subscribe(t *testing.T, typeURL string, names ...string) {
	t.Helper()
	x.mu.Lock()
	x.names[typeURL] = names
	x.mu.Unlock()
	if err := x.stream.Send(&discoveryv3.DiscoveryRequest{Node: x.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatalf("send %s request: %v", typeURL, err)
	}
}

// await returns the first response of typeURL for which ok returns nil, and
// fails with ok's last error after timeout.
func (x *ads) await(t *testing.T, typeURL string, timeout time.Duration, ok func(response) error) response {
	t.Helper()
	deadline := time.After(timeout)
	last := fmt.Errorf("no %s response", typeURL)
	for {
		select {
		case r, open := <-x.got:
			if !open {
				x.mu.Lock()
				err := x.err
				x.mu.Unlock()
				t.Fatalf("ADS stream closed: %v (waiting for %s: %v)", err, typeURL, last)
			}
			if r.TypeUrl != typeURL {
				continue
			}
			if last = ok(r); last == nil {
				return r
			}
		case <-deadline:
			t.Fatalf("after %s: %v", timeout, last)
		}
	}
}

func unmarshal[T proto.Message](t *testing.T, r response, newT func() T) []T {
	t.Helper()
	var out []T
	for _, a := range r.Resources {
		m := newT()
		if err := anypb.UnmarshalTo(a, m, proto.UnmarshalOptions{}); err != nil {
			t.Fatalf("decode %s: %v", a.TypeUrl, err)
		}
		out = append(out, m)
	}
	return out
}

func listeners(t *testing.T, r response) []*listenerv3.Listener {
	return unmarshal(t, r, func() *listenerv3.Listener { return &listenerv3.Listener{} })
}

func routes(t *testing.T, r response) []*routev3.RouteConfiguration {
	return unmarshal(t, r, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
}

func loadAssignments(t *testing.T, r response) []*endpointv3.ClusterLoadAssignment {
	return unmarshal(t, r, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} })
}
