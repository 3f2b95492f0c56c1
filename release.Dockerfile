# syntax=docker/dockerfile:1
# The release image: goreleaser (dockers_v2) builds it from the binaries it
# already built, one per platform, found in the build context under
# $TARGETPLATFORM/. For a build from source use ./Dockerfile.

# distroless has no shell to make /data with, and WORKDIR would make it
# root's: the non-root user could not create the database there.
FROM busybox:stable AS data
RUN mkdir -p /data && chown 65532:65532 /data

FROM gcr.io/distroless/static-debian12:nonroot
ARG TARGETPLATFORM
COPY $TARGETPLATFORM/nosana-secrets /usr/local/bin/nosana-secrets
# The default sqlite database and its key file live in /data, owned by
# distroless' nonroot user (65532).
COPY --from=data --chown=65532:65532 /data /data
WORKDIR /data
VOLUME ["/data"]
ENV STORAGE_CONNECTION=sqlite:///data/db.sqlite
EXPOSE 4124
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/nosana-secrets"]
CMD ["serve"]
