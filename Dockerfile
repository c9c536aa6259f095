# syntax=docker/dockerfile:1
# Custodian: a static binary (the SQLite driver is pure Go, so no C library)
# in a distroless image that runs as a non-root user. The root filesystem
# can be read-only: all state lives in the /data volume, which the image
# creates owned by that user, so a new named volume is writable by it.
# Keys never live there: the keyring and the shred store come from
# secrets (see deploy/compose.yaml and docs/operations.md).
#
# There is no HEALTHCHECK: the image has no shell or HTTP client to run
# one. Let the orchestrator probe GET /healthz (alive) and GET /readyz
# (ready: the database takes a write, the disk has room, the keyring
# opens the data) instead.
#
# .dockerignore keeps ./data (a development database and keyring), .git,
# secrets and build leftovers out of the build context; the commit is
# passed in instead:
#   docker build --build-arg VERSION=1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t custodian .

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_TIME=
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildTime=${BUILD_TIME}" \
      -o /out/custodian ./cmd/custodian \
 && mkdir -p /out/data /out/anchors && chmod 0700 /out/data /out/anchors

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/custodian /usr/local/bin/custodian
# nonroot is uid/gid 65532 in distroless. The data directory, and the
# directory for the audit anchors (another volume, to ship elsewhere), are
# created owned by it (mode 0700) before they become volumes.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/anchors /anchors
USER 65532:65532
VOLUME ["/data"]
VOLUME ["/anchors"]
ENV CUSTODIAN_DATA_DIR=/data \
    CUSTODIAN_ADDR=0.0.0.0:8443 \
    CUSTODIAN_ENV=production
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/custodian"]
CMD ["serve"]
