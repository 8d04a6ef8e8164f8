# refundd's image: a static binary and the launch policies on an empty base,
# run as a non-root user. Nothing but /data is written, so the container can
# run with a read-only root filesystem.
#
#   make image                      # podman (or docker) build, version stamped
#   docker run -p 8181:8181 -v refundd-data:/data \
#     -v $PWD/tokens:/etc/refundd/tokens:ro localhost/refundd:devel
#
# Authentication is on: the server reads its tokens from
# /etc/refundd/tokens (REFUNDD_TOKENS_FILE) and will not start without them.
# TLS: mount a certificate and key and add --tls-cert-file/--tls-key-file to
# the command. README "Deploy" has the details.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/usr/bin/refundd ./cmd/refundd \
 && /out/usr/bin/refundd version \
 && mkdir -p /out/data /out/etc/refundd /out/etc/ssl/certs \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && echo 'refundd:x:65532:65532:refundd:/data:/nonexistent' > /out/etc/passwd \
 && echo 'refundd:x:65532:' > /out/etc/group \
 && cp -r policies /out/policies \
 && mkdir -p /out/tests && cp -r tests/cases /out/tests/cases

FROM scratch
COPY --from=build /out/ /
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV REFUNDD_ADDR=0.0.0.0:8181 \
    REFUNDD_POLICIES=/policies \
    REFUNDD_DATA_DIR=/data \
    REFUNDD_TOKENS_FILE=/etc/refundd/tokens
EXPOSE 8181
VOLUME ["/data"]
ENTRYPOINT ["/usr/bin/refundd"]
CMD ["serve"]
