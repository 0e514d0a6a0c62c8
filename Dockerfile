# syntax=docker/dockerfile:1
# Container image of the manager: a static manager binary plus a pinned terraform, on distroless.
# Build: make docker-build (docker build --build-arg TERRAFORM_VERSION=v1.5.7 -t <image> .);
# CONTAINER_TOOL=podman or buildah works the same way (`<tool> build ...`).
# The image runs as 65532 with a read-only root filesystem; the Deployment mounts an emptyDir at
# /tmp/capc for --work-dir (terraform workspaces, init and plugin caches).

ARG GO_VERSION=1.26
ARG TERRAFORM_VERSION=v1.5.7

# terraform, built from source through the Go module proxy (the same version the tests use).
# The builder stages run on the target platform (no --platform=$BUILDPLATFORM), so both binaries
# are native builds for it.
FROM golang:${GO_VERSION} AS terraform
ARG TERRAFORM_VERSION
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 GOBIN=/out GOFLAGS=-mod=mod \
    go install -trimpath -ldflags="-s -w" "github.com/hashicorp/terraform@${TERRAFORM_VERSION}" && \
    CHECKPOINT_DISABLE=1 /out/terraform version

# The manager, static (CGO_ENABLED=0).
FROM golang:${GO_VERSION} AS manager
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# The whole module minus .dockerignore (tests, tools, config, bin/out), so a new package the
# manager imports (e.g. modulecheck/) cannot be forgotten here.
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/capc-tfshim ./cmd/capc-tfshim

# Runtime: no shell, no package manager, non-root.
FROM gcr.io/distroless/static:nonroot
COPY --from=terraform /out/terraform /usr/local/bin/terraform
COPY --from=manager /out/manager /manager
COPY --from=manager /out/capc-tfshim /capc-tfshim
USER 65532:65532
ENTRYPOINT ["/manager", "--terraform-path=/usr/local/bin/terraform"]
