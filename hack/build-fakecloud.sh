#!/usr/bin/env bash
# build-fakecloud.sh: builds the fake cloud (bin/fakecloud) and its Terraform provider, and
# installs the provider into the filesystem mirror bin/tf-mirror, where terraform finds it with
#   provider_installation {
#     filesystem_mirror { path = "<repo>/bin/tf-mirror" include = ["registry.terraform.io/company/*"] }
#     direct { exclude = ["registry.terraform.io/company/*"] }
#   }
# Builds are cached outside the clone (like hack/ensure-tool.sh), keyed by provider version and a
# hash of the fakecloud module's sources, so an unchanged tree is not rebuilt.
set -euo pipefail
version=${FAKECLOUD_PROVIDER_VERSION:-0.1.0}
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/fakecloud
os=$(go env GOOS) arch=$(go env GOARCH)
hash=$(cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -not -name '*_test.go' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
cache=${CAPC_TOOLS_CACHE:-$HOME/.cache/capc-tools}/fakecloud-v$version-$hash-${os}_$arch
provider=terraform-provider-fakecloud_v$version
mirror=$root/bin/tf-mirror/registry.terraform.io/company/fakecloud/$version/${os}_$arch
mkdir -p "$root/bin" "$(dirname "$cache")"
if [ ! -x "$cache/$provider" ] || [ ! -x "$cache/fakecloud" ]; then
  echo ">> building fakecloud and $provider (cached in $cache)" >&2
  tmp=$(mktemp -d "${cache}.tmp.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$tmp/fakecloud" ./cmd/fakecloud \
    && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$version" -o "$tmp/$provider" ./cmd/terraform-provider-fakecloud)
  rm -rf "$cache"; mv "$tmp" "$cache"
fi
ln -sf "$cache/fakecloud" "$root/bin/fakecloud"
# The mirror holds a copy, not a link: terraform hashes the package directory for the lock file.
mkdir -p "$mirror"
if ! cmp -s "$cache/$provider" "$mirror/$provider"; then
  rm -f "$mirror"/terraform-provider-fakecloud*
  cp "$cache/$provider" "$mirror/$provider.tmp" && mv "$mirror/$provider.tmp" "$mirror/$provider"
fi
