# syntax=docker/dockerfile:1
# The release image: goreleaser (dockers_v2) builds it from the binaries it
# already built, one per platform, found in the build context under
# $TARGETPLATFORM/, and adds the OCI labels. For a build from source use
# ./Dockerfile. RUNTIME_IMAGE is pinned to the same distroless digest as
# ./Dockerfile's (see there for where it comes from and how to bump it).
# TODO: BUSYBOX_IMAGE is not pinned yet: no digest of busybox:stable could be
# checked from the machine this was written on; pin it as busybox:stable@…
# from `crane digest busybox:stable`. test/container substitutes local
# stand-ins for both.
ARG BUSYBOX_IMAGE=busybox:stable
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

# distroless has no shell to make /data with, and WORKDIR would make it
# root's: the non-root user could not create the database there.
FROM ${BUSYBOX_IMAGE} AS data
RUN mkdir -p /data && chown 65532:65532 /data

FROM ${RUNTIME_IMAGE}
ARG TARGETPLATFORM
COPY $TARGETPLATFORM/nosana-secrets /usr/local/bin/nosana-secrets
# The default sqlite database and its key file live in /data, owned by
# distroless' nonroot user (65532).
COPY --from=data --chown=65532:65532 /data /data
WORKDIR /data
VOLUME ["/data"]
ENV STORAGE_CONNECTION=sqlite:///data/db.sqlite \
    SHUTDOWN_TIMEOUT=8s
EXPOSE 4124
USER 65532:65532
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/nosana-secrets", "health"]
ENTRYPOINT ["/usr/local/bin/nosana-secrets"]
CMD ["serve"]
