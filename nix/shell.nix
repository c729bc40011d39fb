# `nix develop`: the toolchain of rust-toolchain.toml (with rust-analyzer and rust-src for
# editors), the inputs of the cargo checks (crane's devShell inherits them), and the tools the
# bundle's recipes call.
{
  pkgs,
  craneLib,
  checks,
}:
let
  # rust-toolchain.toml's toolchain plus the editor components (`override` replaces the
  # component list, so clippy and rustfmt are named again; the musl targets stay).
  toolchain = (pkgs.rust-bin.fromRustupToolchainFile ../rust-toolchain.toml).override {
    extensions = [
      "clippy"
      "rustfmt"
      "rust-src"
      "rust-analyzer"
    ];
  };
in
(craneLib.overrideToolchain toolchain).devShell {
  # The cargo checks' inputs (PostgreSQL, python with hvac and moto, ...); not the packages,
  # images or the VM test, whose inputs a shell does not need.
  checks = {
    inherit (checks)
      clippy
      fmt
      toml-fmt
      nextest
      audit
      deny
      ;
  };
  packages = [
    pkgs.cargo-nextest
    pkgs.sqlx-cli
    pkgs.just
    # The test harness's local cluster finds initdb, pg_ctl and postgres on PATH.
    pkgs.postgresql_16
    pkgs.wrk
    (pkgs.python3.withPackages (ps: [
      ps.hvac
      ps.moto
      ps.flask
      ps.flask-cors
    ]))
    pkgs.terraform # unfree (BUSL): allowed by name in nix/packages.nix, nothing else is
    pkgs.kubectl
    pkgs.kubernetes-helm
    pkgs.actionlint
    pkgs.hadolint
    pkgs.shellcheck
    pkgs.awscli2
    pkgs.docker-client
    pkgs.taplo
  ];
  # The testkit's containers stay off unless asked for (CONFMGR_TEST_CONTAINERS=auto).
  CONFMGR_TEST_CONTAINERS = "never";
  shellHook = ''
    echo "ConfMgr dev shell: $(rustc --version), PostgreSQL $(pg_config --version | cut -d' ' -f2)"
    just --list
  '';
}
