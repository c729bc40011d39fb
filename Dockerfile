# syntax=docker/dockerfile:1
# ConfMgr's images, each `FROM scratch` with one static binary, CA certificates and the
# non-root user 65532, nothing else (no shell, no package manager): `server` (the default
# target; HEALTHCHECK through `confmgr-server healthcheck`, port 8200) and `cli` (`confmgr`).
# doc/containers.md describes them and why there are two.
#
#   docker build -t confmgr-server .  &&  docker build --target cli -t confmgr-cli .
#       compile the binaries in a Rust stage (musl, fat LTO), then the final stage.
#   docker build --build-arg BINARIES=host [--target cli] -t confmgr-server CONTEXT
#       packages binaries built on the host: CONTEXT/rootfs is the tree that
#       scripts/containers/rootfs.sh makes (scripts/containers/image.sh does both). No base
#       image is pulled; the final stages are the same ones.

# The Rust release rust-toolchain.toml pins (scripts/nix/check.sh checks they agree).
ARG RUST_VERSION=1.95.0
# `builder` (compile here) or `host` (CONTEXT/rootfs): where the final stage takes its files.
ARG BINARIES=builder

FROM rust:${RUST_VERSION}-bookworm AS builder
ARG TARGETARCH
# The build context has no .git: pass the commit for `--version` and its time for
# reproducible output (static.sh reads both), e.g.
#   --build-arg CONFMGR_GIT_COMMIT=$(git rev-parse HEAD) --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
ARG CONFMGR_GIT_COMMIT=
ARG SOURCE_DATE_EPOCH=
# musl-gcc for the C parts (SQLite, ring, mimalloc); the Debian release pins the version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools file \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Dependency caching: the registry and the target directory live in cache mounts, so a change
# to ConfMgr's sources recompiles ConfMgr's crates only.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    case "${TARGETARCH:-amd64}" in arm64) arch=aarch64 ;; *) arch=x86_64 ;; esac; \
    rustup target add "$arch-unknown-linux-musl"; \
    export "CC_${arch}_unknown_linux_musl=musl-gcc"; \
    CONFMGR_DIST_DIR=/dist scripts/containers/static.sh "$arch"; \
    scripts/containers/rootfs.sh /rootfs "/dist/$arch"

FROM scratch AS host
COPY rootfs/ /rootfs/

# hadolint ignore=DL3006
FROM ${BINARIES} AS binaries

# The CLI: `docker run --rm confmgr-cli kv get app/db` (CONFMGR_ADDR, CONFMGR_TOKEN), init jobs,
# CI. Built with `--target cli`.
FROM scratch AS cli
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="confmgr-cli" \
      org.opencontainers.image.description="ConfMgr command-line client" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binaries /rootfs/etc/ /etc/
COPY --from=binaries /rootfs/usr/local/bin/confmgr /usr/local/bin/confmgr
USER 65532:65532
ENV PATH=/usr/local/bin
ENTRYPOINT ["/usr/local/bin/confmgr"]
CMD ["--help"]

# The server, the default target: what Compose and Helm run.
FROM scratch AS server
ARG VERSION=0.1.0
ARG REVISION=unknown
# The release pipeline passes the repository URL; a local build names none.
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="confmgr-server" \
      org.opencontainers.image.description="ConfMgr: secrets and configuration over a Vault-compatible API" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binaries /rootfs/etc/ /etc/
COPY --from=binaries /rootfs/usr/local/bin/confmgr-server /usr/local/bin/confmgr-server
USER 65532:65532
ENV CONFMGR_LISTEN=0.0.0.0:8200 \
    PATH=/usr/local/bin
EXPOSE 8200
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/confmgr-server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/confmgr-server"]
CMD ["serve"]
