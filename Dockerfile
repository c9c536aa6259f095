# syntax=docker/dockerfile:1
# Custodian: a static binary (the SQLite driver is pure Go, so no C library)
# in a distroless image that runs as a non-root user. The root filesystem
# can be read-only: all state lives in the /data volume.
#
# There is no HEALTHCHECK: the image has no shell or HTTP client to run
# one. Let the orchestrator probe GET /healthz (alive) and GET /readyz
# (database reachable) instead.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/custodian ./cmd/custodian

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/custodian /usr/local/bin/custodian
# nonroot is uid/gid 65532 in distroless.
USER 65532:65532
VOLUME ["/data"]
ENV CUSTODIAN_DATA_DIR=/data \
    CUSTODIAN_ADDR=0.0.0.0:8080 \
    CUSTODIAN_ENV=production
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/custodian"]
CMD ["serve"]
