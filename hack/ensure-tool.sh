#!/usr/bin/env bash
# ensure-tool.sh NAME VERSION: puts bin/NAME (built only from the Go module proxy) in place.
# Builds are cached outside the clone, keyed by version, so CI and fresh clones on the same
# machine do not rebuild them.
set -euo pipefail
name=$1 version=$2
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CAPC_TOOLS_CACHE:-$HOME/.cache/capc-tools}/$name-$version
# A build whose flags change gets a new cache key, so that cached binaries are rebuilt.
case $name in kube-apiserver) cache=$cache-versioned ;; terraform) cache=$cache-static ;; esac
# The version flags clients and servers report (/version, kubectl version).
minor=$(echo "$version" | cut -d. -f2)
kubeld="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
kubeld="$kubeld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
bin=$root/bin
mkdir -p "$bin" "$(dirname "$cache")"
if [ ! -x "$cache/$name" ]; then
  echo ">> building $name $version (cached in $cache)" >&2
  tmp=$(mktemp -d "${cache}.tmp.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  case $name in
    terraform) # static (no cgo) and stripped: the tests and the image (FROM scratch) use the same binary
      GOBIN=$tmp CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags="-s -w" "github.com/hashicorp/terraform@$version" ;;
    promtool) # checks and unit-tests config/prometheus (test/monitoring)
      GOBIN=$tmp GOFLAGS=-mod=mod go install -trimpath "github.com/prometheus/prometheus/cmd/promtool@$version" ;;
    kube-apiserver|kubectl|kube-controller-manager|kubelet|kube-scheduler)
      # The version clients see (/version): clusterctl refuses a server reporting v0.0.0-master.
      # kubectl runs the kubectl-capc plugin in test/clusterctl, as users do; kube-controller-manager's
      # Job controller runs the runner Jobs of test/jobmode; kubelet and kube-scheduler make the real
      # node (test/node) those Jobs' pods run on.
      (cd "$root/hack/tools/envtest" && go build -trimpath -ldflags "$kubeld" -o "$tmp/$name" "./$name") ;;
    krew) # installs the release's kubectl-capc archive from its krew manifest (test/clusterctl)
      GOBIN=$tmp GOFLAGS=-mod=mod go install -trimpath "sigs.k8s.io/krew/cmd/krew@$version" ;;
    etcd) # reports its module's version (3.6.x) by itself
      (cd "$root/hack/tools/envtest" && go build -trimpath -o "$tmp/$name" "./$name") ;;
    clusterctl)
      ld="-X sigs.k8s.io/cluster-api/version.gitVersion=$version -X sigs.k8s.io/cluster-api/version.gitMajor=1 -X sigs.k8s.io/cluster-api/version.gitMinor=$(echo "$version" | cut -d. -f2)"
      (cd "$root/hack/tools/clusterctl" && go build -trimpath -ldflags "$ld" -o "$tmp/clusterctl" sigs.k8s.io/cluster-api/cmd/clusterctl) ;;
    tofu)
      # -X dev=no makes it report the plain version instead of "-dev".
      (cd "$root/hack/tools/tofu" && go build -trimpath -ldflags "-X github.com/opentofu/opentofu/version.dev=no" \
        -o "$tmp/tofu" github.com/opentofu/opentofu/cmd/tofu) ;;
    containerd) # the node's container runtime: the daemon, its runc shim and ctr (runc itself is Debian's)
      (cd "$root/hack/tools/containerd" && CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -o "$tmp/" \
        github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr) ;;
    controller-gen)
      (cd "$root/hack/tools/controller-gen" && go build -trimpath -o "$tmp/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen) ;;
    kustomize)
      # The version is pinned by hack/tools/kustomize/go.mod; keep KUSTOMIZE_VERSION in the Makefile in step.
      (cd "$root/hack/tools/kustomize" && go build -trimpath -ldflags "-X sigs.k8s.io/kustomize/api/provenance.version=$version" -o "$tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5) ;;
    source-controller)
      # Flux's source-controller for test/sources, with the CRDs of the same version beside it.
      (cd "$root/hack/tools/source-controller" && go build -trimpath -o "$tmp/source-controller" github.com/fluxcd/source-controller &&
        cp -r "$(go list -m -f '{{.Dir}}' github.com/fluxcd/source-controller)/config/crd/bases" "$tmp/crds" && chmod -R u+w "$tmp/crds") ;;
    *) echo "unknown tool $name" >&2; exit 1 ;;
  esac
  rm -rf "$cache"; mv "$tmp" "$cache"
fi
# A tool may be several programs (containerd: its shim and ctr too).
for f in "$cache"/*; do if [ -f "$f" ] && [ -x "$f" ]; then ln -sf "$f" "$bin/$(basename "$f")"; fi; done
