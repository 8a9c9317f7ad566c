# VirtMesh Makefile. The README's two commands are `make run-local` and `make test`.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
KUSTOMIZE := $(BIN)/kustomize
GOLANGCI_LINT := $(BIN)/golangci-lint
# envtest finds kube-apiserver, etcd and kubectl here (built by hack/build-bins.sh).
export KUBEBUILDER_ASSETS := $(BIN)

# Go test flags; e.g. make test GOTESTFLAGS='-run TestValidation -v'.
GOTESTFLAGS ?=
# The real-node suite (test/realnode) runs on its own after the others: it
# starts a node on this host and wants the machine to itself.
PKGS ?= $(shell go list ./... | grep -v '/test/realnode$$')
REALNODE_TIMEOUT ?= 40m

.PHONY: all
all: build

##@ Tools (pinned modules under hack/tools, built into bin/ once per version)

.PHONY: bins
bins: ## Build the control plane, kubectl, kwok, the code generators and Istio (pilot-discovery, pilot-agent) into bin/.
	hack/build-bins.sh kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok kwokctl controller-gen kustomize pilot-discovery pilot-agent

$(CONTROLLER_GEN) $(KUSTOMIZE): hack/tools/dev/go.mod hack/tools/dev/go.sum
	hack/build-bins.sh controller-gen kustomize

$(GOLANGCI_LINT): hack/tools/lint/go.mod hack/tools/lint/go.sum hack/tools/lint/main.go
	hack/build-bins.sh golangci-lint

.PHONY: packages
packages: ## Install (as root) the Debian packages the suites need (the real node's too), or print the command that would.
	hack/install-packages.sh test node

##@ Real node and images (the local cluster's node: containerd, kubelet, kube-proxy, CoreDNS)

.PHONY: packages-node
packages-node: ## Install (as root) the Debian packages of the real node and of the images, or print the command that would.
	hack/install-packages.sh node

.PHONY: bins-node
bins-node: ## Build kubelet, kube-proxy (the API server's pin), containerd v2 (+ shim, ctr) and CoreDNS into bin/.
	hack/build-bins.sh kubelet kube-proxy containerd containerd-shim-runc-v2 ctr coredns

.PHONY: images
images: packages-node ## Build the local cluster's images into bin/images (tarballs + index.json; docs/images.md).
	go run ./hack/images

##@ Generated files

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Regenerate CRDs and RBAC under config/, and Istio's CRDs (config/crd/istio) from the pinned Istio.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/istiocrds

# VERSION of the operator; add a line to config/manifests/releases.yaml when bumping it.
VERSION ?= 0.1.0

.PHONY: bundle
bundle: manifests $(KUSTOMIZE) ## Regenerate the OLM bundle (bundle/, bundle.Dockerfile) from config/.
	go run ./hack/bundle --version $(VERSION) --kustomize $(KUSTOMIZE)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint with the Kube API Linter (.golangci.yml); zero findings.
	$(GOLANGCI_LINT) run ./...
	cd test/istio && $(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests bundle lint ## Regenerate everything, lint, and fail on stale generated files, untidy modules or crossed import graphs.
	hack/verify-clean.sh
	hack/verify-tidy.sh
	hack/verify-deps.sh

##@ Local cluster (docs/local-cluster.md)

# NODES picks what runs the pods: empty (the default) is a real node
# (containerd, kubelet, kube-proxy, CoreDNS on this host; VMs boot) when run
# as root on Linux and kwok otherwise; "kwok" (or a number of nodes) simulates
# the nodes; "real" insists on the real node.
NODES ?= $(VIRTMESH_NODES)

.PHONY: run-local
run-local: ## Start the local cluster (a real node as root, kwok otherwise; NODES=kwok to simulate), install the operator, boot the samples.
	VIRTMESH_NODES=$(NODES) hack/local-cluster.sh up

.PHONY: stop-local
stop-local: ## Undo everything run-local did (also after a crash) and remove its work directory.
	hack/local-cluster.sh down

# N is the objects per phase (100: the quick developer run; the documented
# run is N=1000); SCALEFLAGS go to the driver, e.g. SCALEFLAGS='-phases pods,vmis'.
N ?= 100
SCALEFLAGS ?=

.PHONY: scale
scale: ## Scale run on a fresh local kwok cluster: N VMIs vs N plain Pods, unpaced and at 10/s, figures vs targets (docs/performance.md).
	hack/scale-run.sh $(N) $(SCALEFLAGS)

##@ Fuzzing (docs/fuzzing.md)

# FUZZTIME is how long `make fuzz` runs each target; FUZZ picks targets by
# name (a regexp). TEST_FUZZTIME is the short pass `make test` runs.
FUZZTIME ?= 60s
FUZZ ?= .
TEST_FUZZTIME ?= 5s

.PHONY: fuzz
fuzz: ## Run every go test fuzz target for FUZZTIME (60s) each, one after another; e.g. make fuzz FUZZ=DHCP FUZZTIME=5m.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh '$(FUZZ)'

##@ Build and test

.PHONY: build
build: ## Build the manager and the launcher.
	go build -o $(BIN)/manager .
	CGO_ENABLED=0 go build -o $(BIN)/virt-launcher ./cmd/virt-launcher

.PHONY: vet
vet:
	go vet ./...
	cd test/istio && go vet ./...

# The suite against the real Istio (test/istio) is its own module; it builds
# and runs pilot-discovery and pilot-agent (make bins builds them once).
ISTIO_TEST_TIMEOUT ?= 30m

.PHONY: test
test: packages bins verify vet ## Install packages, build the test harness, verify, run unit, envtest, dataplane, VM, bundle, e2e and Istio tests, the real-node suite, and a short fuzz pass.
	go test $(GOTESTFLAGS) $(PKGS)
	cd test/istio && go test -timeout $(ISTIO_TEST_TIMEOUT) $(GOTESTFLAGS) ./...
	go test -timeout $(REALNODE_TIMEOUT) $(GOTESTFLAGS) ./test/realnode
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME) FUZZ=.

.PHONY: test-istio
test-istio: bins ## Only the suite against the real istiod and pilot-agent (test/istio).
	cd test/istio && go test -timeout $(ISTIO_TEST_TIMEOUT) $(GOTESTFLAGS) ./...
