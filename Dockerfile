# syntax=docker/dockerfile:1
# Build: a static binary. .ci/run and main's tests run this RUN line as it stands.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The release version, printed by `gateway version` and reported in
# /admin/stats and gateway_build_info: docker build --build-arg VERSION=v1.2.3 .
# Unset, the binary falls back to what the Go toolchain records.
ARG VERSION
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X gateway/internal/buildinfo.version=${VERSION}" -o /out/gateway .

# Run: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
ENV HOST=0.0.0.0 PORT=8080 APP_ENV=production LOG_FORMAT=json
EXPOSE 8080
# A .env may be mounted at /home/nonroot/.env (the working directory);
# the environment wins over it.
WORKDIR /home/nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/gateway", "healthcheck"]
# Numeric, so that Kubernetes' runAsNonRoot can verify it (a user name it
# cannot): 65532 is distroless's nonroot.
USER 65532:65532
ENTRYPOINT ["/gateway"]
