#!/usr/bin/env bash
# image-build.sh TOOL IMAGE CONTEXT ARCHIVE VERSION TERRAFORM_VERSION: builds the Dockerfile's
# image from CONTEXT (hack/image-context.sh). With buildah (the default) the build is offline and
# rootful with the vfs driver in a private store under out/, and the image is written to ARCHIVE
# as an OCI archive; other tools (docker, podman) build into their own store.
set -euo pipefail
tool=$1 image=$2 context=$3 archive=$4 version=$5 tfversion=$6
root=$(cd "$(dirname "$0")/.." && pwd)
args=(--build-arg "VERSION=$version" --build-arg "TERRAFORM_VERSION=$tfversion" -t "$image" -f "$root/Dockerfile")
if [ "$tool" != buildah ]; then
  exec "$tool" build "${args[@]}" "$context"
fi
command -v buildah >/dev/null || { echo "buildah not found: apt-get install buildah (Debian), or CONTAINER_TOOL=docker|podman" >&2; exit 1; }
store=$(dirname "$archive")/.buildah
b=(buildah --storage-driver vfs --root "$store/root" --runroot "$store/run")
"${b[@]}" bud --quiet --pull=false "${args[@]}" "$context"
rm -f "$archive"
"${b[@]}" push --quiet "$image" "oci-archive:$archive:$image"
"${b[@]}" rmi --all --force >/dev/null
echo "image $image written to $archive"
