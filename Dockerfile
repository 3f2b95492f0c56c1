# syntax=docker/dockerfile:1
# Builds nosana-secrets from source. The image runs `serve` as distroless'
# non-root user (65532); the default sqlite database and its key file live
# in the /data volume.
#
#   docker build -t nosana-secrets \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(git log -1 --format=%cI) .
#   docker run -p 4124:4124 -v nosana-data:/data -e JWT_SECRET=… nosana-secrets
#
# Other platforms are cross-compiled by the build platform's Go (the binary
# is pure Go: CGO_ENABLED=0, the sqlite driver is modernc's), not emulated:
#   docker buildx build --platform linux/amd64,linux/arm64 .

# The base images, pinned by digest; override them to build from a mirror
# (test/container builds stand-ins from local files this way).
# GO_IMAGE's digest is the one go.mongodb.org/mongo-driver v2.10.0 pins for
# this tag in its Dockerfile. RUNTIME_IMAGE's is the OCI index (multi-arch)
# digest of gcr.io/distroless/static-debian12:nonroot as resolved on
# 2026-08-26 and again 2026-09-04 by several unrelated public projects that
# pin it (`crane digest`, `docker buildx imagetools inspect`); no registry
# could be reached from the machine this was written on, so check it once
# with
#   crane digest gcr.io/distroless/static-debian12:nonroot
# and bump it the same way when distroless rebuilds (it does, for CVEs).
ARG GO_IMAGE=golang:1.26.9-trixie@sha256:f06b7122f888680048afb247c4e5f49c0069eb6c4c1ccae0f3f4834527a8d22c
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# A module proxy other than the default (a mirror, or a local one in tests).
ARG GOPROXY
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Version=${VERSION} -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Commit=${COMMIT} -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Date=${DATE}" \
      -o /out/nosana-secrets . \
 && mkdir -p /out/data

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="nosana-secrets" \
      org.opencontainers.image.description="Secret manager for the Nosana network" \
      org.opencontainers.image.source="https://github.com/nosana-ci/nosana-secrets" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/nosana-secrets /usr/local/bin/nosana-secrets
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]
ENV STORAGE_CONNECTION=sqlite:///data/db.sqlite \
    SHUTDOWN_TIMEOUT=8s
EXPOSE 4124
USER 65532:65532
# serve drains requests on SIGTERM for SHUTDOWN_TIMEOUT (8 s here: inside
# the 10 s docker and podman wait before SIGKILL), then closes the store.
STOPSIGNAL SIGTERM
# health probes /readyz on the port serve takes from the same PORT/LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/nosana-secrets", "health"]
ENTRYPOINT ["/usr/local/bin/nosana-secrets"]
CMD ["serve"]
