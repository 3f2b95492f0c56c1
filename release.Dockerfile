# syntax=docker/dockerfile:1
# The release image: goreleaser (dockers_v2) builds it from the binaries it
# already built, one per platform, found in the build context under
# $TARGETPLATFORM/. For a build from source use ./Dockerfile.
FROM gcr.io/distroless/static-debian12:nonroot
ARG TARGETPLATFORM
COPY $TARGETPLATFORM/nosana-secrets /usr/local/bin/nosana-secrets
# distroless' nonroot user (65532) owns the working directory and volume,
# where the default sqlite database and its key file live.
WORKDIR /data
VOLUME ["/data"]
ENV STORAGE_CONNECTION=sqlite:///data/db.sqlite
EXPOSE 4124
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/nosana-secrets"]
CMD ["serve"]
