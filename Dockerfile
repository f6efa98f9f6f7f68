# Multi-stage build: a static binary on a distroless, non-root base.
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/server /app/server
# Writable directory for the embedded SQLite default (unused with DATABASE_URL).
COPY --from=build --chown=65532:65532 /out/data /app/data
USER 65532:65532
EXPOSE 8080
# `server health` asks the running server's /readyz (on LISTEN_ADDR).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/app/server", "health"]
ENTRYPOINT ["/app/server"]
