# syntax=docker/dockerfile:1
# coffer: cofferd (the server) and coffer (the CLI) in a small, non-root image.
#
# Build:  docker build -t coffer .
# Dev:    docker run --rm -p 127.0.0.1:4000:4000 coffer
#         (the default command below: DEVELOPMENT ONLY — a fixed public credential, a
#         temporary store, plain HTTP; see docs/CONTAINERS.md)
# Prod:   docker run -d -p 4000:4000 -v coffer-data:/data -v "$PWD/secrets:/etc/coffer:ro" \
#           coffer --config /etc/coffer/cofferd.toml
#         (TLS, the root key outside the data volume; docs/CONTAINERS.md, docs/CONFIG.md)
#
# tests/container.rs runs this file's ENTRYPOINT + CMD and HEALTHCHECK against the built
# binary, and tests/container/smoke.sh builds and runs the image where a Docker engine exists.

# --- build -----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry and the target directory are BuildKit caches: a rebuild after a source change
# recompiles coffer's crates only. The binaries are copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cofferd -p coffer-cli \
 && install -D -m 0755 target/release/cofferd target/release/coffer -t /out/

# --- run -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 coffer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin coffer \
 && install -d -m 0700 -o 10001 -g 10001 /data
COPY --from=build /out/cofferd /out/coffer /usr/local/bin/
USER 10001:10001
WORKDIR /data
# The production data directory (credentials, keys, audit log). --dev does not use it: it makes
# a temporary directory that goes with the container.
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["cofferd", "healthcheck"]
ENTRYPOINT ["cofferd"]
# DEVELOPMENT ONLY: --dev (fixed public credential AKIACOFFERDEV0000000, temporary store,
# quotas off) on all interfaces in plain HTTP. Production replaces this command with
# --config FILE (TLS, root key from a secret, --data-dir /data); see docs/CONTAINERS.md.
CMD ["--dev", "--listen", "0.0.0.0:4000", "--allow-plain-http"]
