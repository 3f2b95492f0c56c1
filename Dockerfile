# syntax=docker/dockerfile:1
# Builds nosana-secrets from source. The image runs `serve` as a non-root
# user; the default sqlite database and its key file live in the /data volume.
#
#   docker build -t nosana-secrets .
#   docker run -p 4124:4124 -v nosana-data:/data -e JWT_SECRET=… nosana-secrets

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Version=${VERSION} -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Commit=${COMMIT} -X github.com/nosana-ci/nosana-secrets/internal/buildinfo.Date=${DATE}" \
      -o /out/nosana-secrets . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nosana-secrets /usr/local/bin/nosana-secrets
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]
ENV STORAGE_CONNECTION=sqlite:///data/db.sqlite
EXPOSE 4124
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/nosana-secrets"]
CMD ["serve"]
