#!/usr/bin/env bash
# image-context.sh DIR: the build context of the Dockerfile, from this machine's Go and the
# tools cache: static manager and capc-tfshim, the static terraform (bin/terraform, as the tests use),
# the CA bundle and the non-root user's passwd and group entries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
cd "$root"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$dir/manager" ./cmd/manager
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$dir/capc-tfshim" ./cmd/capc-tfshim
cp "$(readlink -f bin/terraform)" "$dir/terraform"
cp /etc/ssl/certs/ca-certificates.crt "$dir/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp/capc:/sbin/nologin\n' > "$dir/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/group"
