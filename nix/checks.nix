# `nix flake check`: clippy, rustfmt, taplo, the test suite under nextest, cargo-audit, cargo-deny,
# the packages themselves and, on Linux, the NixOS VM test (nix/vm-test.nix).
{
  self,
  pkgs,
  craneLib,
  src,
  testSrc,
  pname,
  version,
  commonArgs,
  cargoArtifacts,
  advisory-db,
  packages,
}:
let
  inherit (pkgs) lib;
  # What the tests run besides cargo: PostgreSQL 16's server binaries for the harness's own
  # cluster (testkit finds initdb on PATH), python3 with hvac (Vault-client compatibility
  # tests) and moto's server with flask and flask-cors (the KMS tests, on loopback), curl and
  # bash for the legacy scripts, ps/kill/id for the process tests.
  python = pkgs.python3.withPackages (ps: [
    ps.hvac
    ps.moto
    ps.flask
    ps.flask-cors
  ]);
  testTools = [
    pkgs.postgresql_16
    python
    pkgs.curl
    pkgs.bash
    pkgs.procps
    pkgs.util-linux
  ];
in
packages
// {
  clippy = craneLib.cargoClippy (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--workspace --all-targets -- --deny warnings";
    }
  );

  fmt = craneLib.cargoFmt { inherit src pname version; };

  # The whole suite (`cargo test --workspace` in CI) under nextest, in the sandbox. Nothing is
  # filtered out: no test needs the network (PostgreSQL, moto and the server all listen on
  # loopback, which the sandbox has) and none needs containers: CONFMGR_TEST_CONTAINERS=never
  # makes the harness start its own cluster from postgresql_16 instead of probing DOCKER_HOST.
  # A test that proves sandbox-bound gets a named `-E 'not test(...)'` here, with its reason.
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      src = testSrc;
      nativeBuildInputs = testTools;
      # The tests run scripts/*.sh and compose/postgres/start.sh by their `#!/usr/bin/env`
      # lines; the sandbox has no /usr/bin/env.
      postPatch = ''
        patchShebangs --build scripts compose crates/confmgr-server/tests
      '';
      CONFMGR_TEST_CONTAINERS = "never";
      # rustls reads the platform's CA certificates; the sandbox has none of its own.
      SSL_CERT_FILE = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
      cargoNextestExtraArgs = "--workspace --no-fail-fast";
      partitions = 1;
      partitionType = "count";
    }
  );

  # TOML formatting of the files .taplo.toml lists (its `include`): crane's taploFmt.
  toml-fmt = craneLib.taploFmt {
    inherit pname version;
    src = lib.fileset.toSource {
      root = ../.;
      fileset = lib.fileset.unions [
        ../.taplo.toml
        ../deny.toml
        ../rust-toolchain.toml
      ];
    };
  };

  # RustSec advisories from the pinned advisory-db input (no network in the sandbox).
  audit = craneLib.cargoAudit { inherit src advisory-db; };

  # Licenses, bans and sources as deny.toml says (advisories are cargo-audit's, above).
  deny = craneLib.cargoDeny {
    inherit src pname version;
    cargoDenyChecks = "bans licenses sources";
  };
}
// lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
  nixos-module = import ./vm-test.nix { inherit self pkgs; };
}
