# cluster-api-provider-custom
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

TERRAFORM_VERSION      ?= v1.5.7
TOFU_VERSION           ?= v1.10.6
KUBE_VERSION           ?= v1.36.3
CLUSTERCTL_VERSION     ?= v1.14.2
CONTROLLER_GEN_VERSION ?= v0.23.0
KUSTOMIZE_VERSION      ?= v5.8.2
SOURCE_CONTROLLER_VERSION ?= v1.9.6
PROMTOOL_VERSION       ?= v0.316.0
KREW_VERSION           ?= v0.4.3
CONTAINERD_VERSION     ?= v2.4.2
RELEASE_TAG            ?= v0.1.0
IMG                    ?= ghcr.io/company/cluster-api-provider-custom:$(RELEASE_TAG)
CONTAINER_TOOL         ?= buildah

BIN := $(CURDIR)/bin
export KUBEBUILDER_ASSETS := $(BIN)
export PATH := $(BIN):$(PATH)
GO_TEST_FLAGS ?= -count=1
# Every Go directory of the main module gofmt checks.
GO_DIRS := api bench cmd config contract controllers hack modulecheck modules modulesrc test tfjob tfmodule tfrunner tfstate

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Tools (built from the Go module proxy into bin/, cached in ~/.cache/capc-tools)

.PHONY: tools
tools: $(BIN)/terraform $(BIN)/tofu $(BIN)/kube-apiserver $(BIN)/etcd $(BIN)/controller-gen $(BIN)/kustomize $(BIN)/clusterctl $(BIN)/source-controller $(BIN)/promtool $(BIN)/kubectl $(BIN)/krew $(BIN)/kube-controller-manager $(BIN)/kubelet $(BIN)/kube-scheduler $(BIN)/containerd fakecloud ## Build every tool tests need.

$(BIN)/terraform:
	hack/ensure-tool.sh terraform $(TERRAFORM_VERSION)
$(BIN)/tofu:
	hack/ensure-tool.sh tofu $(TOFU_VERSION)
$(BIN)/kube-apiserver:
	hack/ensure-tool.sh kube-apiserver $(KUBE_VERSION)
$(BIN)/etcd:
	hack/ensure-tool.sh etcd $(KUBE_VERSION)
$(BIN)/controller-gen:
	hack/ensure-tool.sh controller-gen $(CONTROLLER_GEN_VERSION)
$(BIN)/clusterctl:
	hack/ensure-tool.sh clusterctl $(CLUSTERCTL_VERSION)
$(BIN)/kustomize:
	hack/ensure-tool.sh kustomize $(KUSTOMIZE_VERSION)
$(BIN)/source-controller:
	hack/ensure-tool.sh source-controller $(SOURCE_CONTROLLER_VERSION)
$(BIN)/promtool:
	hack/ensure-tool.sh promtool $(PROMTOOL_VERSION)
$(BIN)/kubectl:
	hack/ensure-tool.sh kubectl $(KUBE_VERSION)
$(BIN)/kube-controller-manager:
	hack/ensure-tool.sh kube-controller-manager $(KUBE_VERSION)
$(BIN)/kubelet:
	hack/ensure-tool.sh kubelet $(KUBE_VERSION)
$(BIN)/kube-scheduler:
	hack/ensure-tool.sh kube-scheduler $(KUBE_VERSION)
# The version is pinned by hack/tools/containerd/go.mod; keep CONTAINERD_VERSION in step.
$(BIN)/containerd:
	hack/ensure-tool.sh containerd $(CONTAINERD_VERSION)
$(BIN)/krew:
	hack/ensure-tool.sh krew $(KREW_VERSION)

.PHONY: clusterctl
clusterctl: $(BIN)/clusterctl ## Build clusterctl.

.PHONY: kustomize
kustomize: $(BIN)/kustomize ## Build kustomize.

# Built from fakecloud/ (its own Go module), cached by source hash; phony so edits are picked up.
.PHONY: fakecloud
fakecloud: ## Build bin/fakecloud and install its Terraform provider into the bin/tf-mirror filesystem mirror.
	hack/build-fakecloud.sh

##@ Development

.PHONY: generate
generate: $(BIN)/controller-gen ## Generate deepcopy code.
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(BIN)/controller-gen ## Generate CRDs and RBAC into config/.
	$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(BIN)/controller-gen rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=config/rbac

.PHONY: dashboard
dashboard: ## Generate the Grafana dashboard (config/grafana/capc-dashboard.json) from hack/dashboard.
	go run ./hack/dashboard > config/grafana/capc-dashboard.json.tmp && mv config/grafana/capc-dashboard.json.tmp config/grafana/capc-dashboard.json

.PHONY: verify
verify: generate manifests dashboard $(BIN)/terraform ## Fail when generated files are stale, go.mod is untidy or code is unformatted.
	go mod tidy
	@test -z "$$(gofmt -l $(GO_DIRS))" || { gofmt -l $(GO_DIRS); echo "gofmt needed"; exit 1; }
	@git diff --exit-code -- api config go.mod go.sum || { echo "generated files or go.mod are stale: run make generate manifests && go mod tidy"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- api config)" || { git ls-files --others --exclude-standard -- api config; echo "untracked generated files: commit them"; exit 1; }
	$(BIN)/terraform fmt -check -recursive modules

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: build
build: ## Build the manager (and capc-tfshim, which terraform runs under) and the kubectl-capc plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/capc-tfshim ./cmd/capc-tfshim
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/kubectl-capc ./cmd/kubectl-capc

##@ Test

.PHONY: test
test: tools ## Unit + envtest + integration tests (real kube-apiserver, CAPI core reconcilers, terraform).
	go vet ./...
	@# The runner suite again on OpenTofu, beside the rest: the suites mostly wait on terraform and
	@# API servers (about one of two CPUs busy), so running it alongside saves its ~95 s.
	log=$$(mktemp); set +e; CAPC_ENGINE=tofu go test $(GO_TEST_FLAGS) ./test/tfrunner/ > $$log 2>&1 & tofu=$$!; \
	go test $(GO_TEST_FLAGS) -timeout 20m ./...; rc=$$?; \
	wait $$tofu; trc=$$?; echo "--- test/tfrunner on OpenTofu (exit $$trc):"; cat $$log; rm -f $$log; \
	[ $$rc = 0 ] && [ $$trc = 0 ]
	cd fakecloud && FAKECLOUD_TF_MIRROR=$(BIN)/tf-mirror go test -count=1 ./...

.PHONY: test-fakecloud
test-fakecloud: fakecloud $(BIN)/terraform ## Fake cloud server + provider tests (real terraform installing the provider from bin/tf-mirror).
	cd fakecloud && go vet ./... && FAKECLOUD_TF_MIRROR=$(BIN)/tf-mirror go test $(GO_TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: ## Pure unit tests only.
	go test $(GO_TEST_FLAGS) ./api/... ./contract/... ./planpolicy/... ./tfmodule/... ./tfstate/... ./tfrunner/... ./tfjob/... ./modulecheck/... ./modulesrc/... ./controllers/...

##@ Demo

.PHONY: demo
demo: $(BIN)/terraform $(BIN)/kube-apiserver $(BIN)/etcd ## Run the end-to-end demo on a local API server with the simulated module (builds only what it runs).
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/capc-tfshim ./cmd/capc-tfshim
	go run ./hack/demo

##@ Release

IMAGE_DIR     ?= $(CURDIR)/out/image
IMAGE_ARCHIVE ?= $(CURDIR)/out/capc-image.oci.tar

.PHONY: image-context
image-context: $(BIN)/terraform ## The image's build context in IMAGE_DIR: static manager, shim and terraform from this machine's Go.
	hack/image-context.sh $(IMAGE_DIR)

.PHONY: docker-build
docker-build: image-context ## Build the image (Dockerfile, FROM scratch); with buildah (default) offline into IMAGE_ARCHIVE (OCI); CONTAINER_TOOL=docker|podman also work.
	hack/image-build.sh $(CONTAINER_TOOL) $(IMG) $(IMAGE_DIR) $(IMAGE_ARCHIVE) $(RELEASE_TAG) $(TERRAFORM_VERSION)

RELEASE_DIR ?= out

PLUGIN_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64

.PHONY: release
release: ## Write the clusterctl release artifacts and the kubectl plugin for RELEASE_TAG into RELEASE_DIR (out/).
	rm -rf $(RELEASE_DIR)
	$(MAKE) release-manifests release-templates release-plugin

.PHONY: release-manifests
release-manifests: $(BIN)/kustomize ## infrastructure-components.yaml (image as ${CAPC_IMAGE:=IMG}) and metadata.yaml.
	go run ./hack/release -what manifests -tag $(RELEASE_TAG) -image $(IMG) -out $(RELEASE_DIR)

.PHONY: release-plugin
release-plugin: ## kubectl-capc archives for PLUGIN_PLATFORMS and their krew manifest (capc.yaml).
	go run ./hack/release -what plugin -tag $(RELEASE_TAG) -platforms $(PLUGIN_PLATFORMS) -out $(RELEASE_DIR)

.PHONY: release-templates
release-templates: ## Cluster templates and ClusterClass from templates/.
	go run ./hack/release -what templates -tag $(RELEASE_TAG) -out $(RELEASE_DIR)

##@ Benchmarks

.PHONY: bench
bench: $(BIN)/terraform $(BIN)/kube-apiserver $(BIN)/etcd $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubelet $(BIN)/containerd fakecloud ## Provider vs naive init/plan/apply per object (P1-P6, one run, under 15 min on 2 cores); writes docs/benchmarks.md.
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/capc-tfshim ./cmd/capc-tfshim  # P2s: the shim and sandbox terraform runs under
	go run ./bench/cmd/capc-bench $(BENCH_FLAGS)

##@ Reliability

.PHONY: test-reliability
test-reliability: tools ## Crash, failover, cloud-fault, load, bad-input and secret-leak suites, CI-sized (part of make test); figures in .work/reliability/.
	CAPC_RELIABILITY_REPORT=$(CURDIR)/.work/reliability go test $(GO_TEST_FLAGS) -timeout 20m -v ./test/reliability/

.PHONY: soak
soak: tools ## The reliability suites at full counts (CAPC_SOAK=1: 50 SIGKILL + 10 SIGTERM crash trials, 200 load machines, 10 failovers); figures in .work/reliability/.
	CAPC_SOAK=1 CAPC_RELIABILITY_REPORT=$(CURDIR)/.work/reliability go test $(GO_TEST_FLAGS) -timeout 120m -v ./test/reliability/
