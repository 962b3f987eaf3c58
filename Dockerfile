# syntax=docker/dockerfile:1
# Build: a static binary, the same command .ci/run uses.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gateway .

# Run: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
ENV HOST=0.0.0.0 PORT=8080 APP_ENV=production LOG_FORMAT=json
EXPOSE 8080
# A .env may be mounted at /home/nonroot/.env (the working directory);
# the environment wins over it.
WORKDIR /home/nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/gateway", "healthcheck"]
USER nonroot:nonroot
ENTRYPOINT ["/gateway"]
