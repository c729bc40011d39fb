# ConfMgr tasks. `just` lists them. (Install just with `cargo install just`.)

default:
    @just --list

# Recipes for each part of the bundle live next to each other in just/.
import 'just/nix.just'
import 'just/helm.just'
import 'just/infra.just'
import 'just/release.just'

# Run the server with no setup: SQLite under the temp dir, root token printed once
dev *ARGS:
    cargo run -p confmgr-server -- --dev {{ARGS}}

# Run every test (needs PostgreSQL server binaries and python3 with hvac: see README)
test *ARGS:
    cargo test --workspace --locked {{ARGS}}

# Clippy with warnings as errors
lint:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Format the code
fmt:
    cargo fmt --all

# What CI runs
ci:
    bash .ci/run

# Run doc/getting-started.md's Production section as written (PostgreSQL from initdb as the postgres account, HTTPS server, first secret); needs PostgreSQL server binaries and curl; as root (CI) or with sudo
check-getting-started:
    cargo build --locked -p confmgr-server -p confmgr-cli
    bash scripts/check_getting_started.sh

# Apply migrations to CONFMGR_DATABASE_URL
migrate:
    cargo run -p confmgr-server -- migrate

# Benchmark (about 12 min): wrk on a release server next to pgbench references; writes bench/results/ (needs wrk: apt-get install -y wrk)
bench:
    cargo build --release --locked -p confmgr-server
    cargo run --release --locked -p confmgr-bench

# Profile (about 5 min more than bench): the bench with perf sampling the server in extra passes; flame graphs in bench/results/ (needs perf: apt-get install -y linux-perf)
profile:
    cargo build --profile profiling --locked -p confmgr-server
    CONFMGR_BENCH_PROFILE=1 CONFMGR_BENCH_SERVER=target/profiling/confmgr-server cargo run --release --locked -p confmgr-bench

# Static confmgr-server and confmgr (musl where that Rust target is installed, else static glibc; fat LTO) into target/static/dist/ARCH: `just static aarch64` for another architecture
static *ARCHES:
    nice -n 10 scripts/containers/static.sh {{ARCHES}}

# The server and CLI images from the static binaries (no base image pulled), checked against their targets: size, user, read-only, capabilities, hadolint
image SERVER="localhost/confmgr-server:dev" CLI="localhost/confmgr-cli:dev":
    scripts/containers/image.sh {{SERVER}} {{CLI}}
    scripts/containers/check-image.sh {{SERVER}} {{CLI}}

# Start the Compose stack (PostgreSQL with client-certificate TLS, init, two HTTPS replicas) and wait until it is healthy
up *ARGS:
    scripts/containers/up.sh {{ARGS}}

# Stop the Compose stack and delete its volumes (the database)
down:
    scripts/containers/down.sh

# Smoke-test the running stack: writes and reads through both replicas, a restart, PostgreSQL's refusals, audit verify
smoke:
    scripts/containers/smoke.sh

# Everything CI checks about containers (podman set up, base image, static build, image, stack, smoke, testcontainers), cleaned up even on failure
containers-check:
    scripts/containers/ci.sh
