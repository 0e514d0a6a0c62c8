# The provider image, defined once: FROM scratch, holding only static binaries, CA certificates
# and a passwd entry for the non-root user. The build context is prepared by hack/image-context.sh
# (`make image-context`, host Go, no base image to pull): manager, capc-tfshim and a static
# terraform pinned to TERRAFORM_VERSION. Build it with `make docker-build` (buildah by default,
# offline, into an OCI archive) or any engine: `<tool> build -f Dockerfile out/image`.
# The same image runs the manager (the Deployment) and, in job mode, the runner Jobs
# (`/manager runner`). It runs as 65532 with a read-only root filesystem; the pods mount an
# emptyDir at /tmp/capc for --work-dir.
FROM scratch
ARG VERSION=dev
ARG TERRAFORM_VERSION
LABEL org.opencontainers.image.title="cluster-api-provider-custom" \
      org.opencontainers.image.source="https://github.com/company/cluster-api-provider-custom" \
      org.opencontainers.image.version="${VERSION}" \
      io.github.company.capc.terraform-version="${TERRAFORM_VERSION}"
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY terraform /usr/local/bin/terraform
COPY manager capc-tfshim /
ENV HOME=/tmp/capc CHECKPOINT_DISABLE=1
USER 65532:65532
ENTRYPOINT ["/manager", "--terraform-path=/usr/local/bin/terraform"]
