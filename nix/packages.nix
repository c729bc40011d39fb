# Everything the flake builds for one system: the crane builds (dynamic and static), the OCI
# images, the checks (nix/checks.nix) and the dev shell (nix/shell.nix). Written against crane's
# documented API (quick-start-workspace and cross-musl examples); see doc/nix.md.
{
  self,
  nixpkgs,
  crane,
  rust-overlay,
  advisory-db,
  system,
}:
let
  pkgs = import nixpkgs {
    inherit system;
    overlays = [ (import rust-overlay) ];
    # Terraform (BUSL) is unfree in nixpkgs; the dev shell needs it and nothing else unfree.
    config.allowUnfreePredicate = pkg: nixpkgs.lib.getName pkg == "terraform";
  };
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) isLinux;

  # One compiler for rustup and Nix: rust-toolchain.toml (channel, clippy, rustfmt, musl targets).
  craneLib = (crane.mkLib pkgs).overrideToolchain (
    p: p.rust-bin.fromRustupToolchainFile ../rust-toolchain.toml
  );

  root = ../.;
  # What the build reads besides Rust and Cargo files (crane's commonCargoSources keeps only
  # those): `grep -rn 'include_str!\|include_bytes!\|sqlx::migrate!' crates` lists them.
  buildFiles = lib.fileset.unions [
    (craneLib.fileset.commonCargoSources root)
    ../migrations # sqlx::migrate! in confmgr-store
    ../crates/confmgr-server/assets # include_bytes!: vendored Swagger UI, the docs page
    ../crates/confmgr-server/src/http/openapi-intro.md # include_str!: the OpenAPI description
    ../compose/postgres/start.sh # include_str!: the test harness's container start script
  ];
  src = lib.fileset.toSource {
    inherit root;
    fileset = buildFiles;
  };
  # The tests also read files at run time: the scripts they run, doc/ (dashboard and alert
  # rules against the metrics), .env.example, the hvac scripts, fixtures and insta snapshots.
  testSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      buildFiles
      ../scripts
      ../doc
      ../.env.example
      ../crates/confmgr-server/tests
      ../crates/confmgr-cli/tests
    ];
  };

  pname = "confmgr";
  # The workspace's version (every crate inherits it).
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  # `--version` prints it (crates/confmgr-build); only the final packages get it, so the
  # dependency builds below stay the same from one commit to the next.
  commit = self.rev or self.dirtyRev or "unknown";

  commonArgs = {
    inherit src pname version;
    strictDeps = true;
    buildInputs = lib.optionals pkgs.stdenv.isDarwin [ pkgs.libiconv ];
  };
  # The workspace's dependencies, built once (cargo check, build and test --no-run) and
  # shared by the dynamic packages, clippy and the test suite.
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # Static musl builds (crane's cross-musl example): the target of this machine's CPU, the
  # `release-static` cargo profile (fat LTO, no symbols) as `just static` and the Dockerfile
  # use, and a musl C compiler for the C parts (ring, SQLite, mimalloc).
  muslTarget = "${pkgs.stdenv.hostPlatform.parsed.cpu.name}-unknown-linux-musl";
  targetVar = lib.replaceStrings [ "-" ] [ "_" ] muslTarget;
  muslCC = pkgs.pkgsStatic.stdenv.cc;
  staticArgs = commonArgs // {
    pname = "${pname}-static";
    CARGO_PROFILE = "release-static";
    CARGO_BUILD_TARGET = muslTarget;
    CARGO_BUILD_RUSTFLAGS = "-C target-feature=+crt-static";
    "CARGO_TARGET_${lib.toUpper targetVar}_LINKER" = "${muslCC}/bin/${muslCC.targetPrefix}cc";
    "CC_${targetVar}" = "${muslCC}/bin/${muslCC.targetPrefix}cc";
    "AR_${targetVar}" = "${muslCC.bintools}/bin/${muslCC.targetPrefix}ar";
    doCheck = false;
  };
  staticArtifacts = craneLib.buildDepsOnly staticArgs;

  # One binary of the workspace: `crate` is the cargo package, `bin` its executable.
  binary =
    {
      crate,
      bin,
      description,
      static ? false,
    }:
    craneLib.buildPackage (
      (if static then staticArgs // { cargoArtifacts = staticArtifacts; } else commonArgs // { inherit cargoArtifacts; })
      // {
        pname = bin + lib.optionalString static "-static";
        cargoExtraArgs = "--locked -p ${crate}";
        # The tests run once, in checks.nextest.
        doCheck = false;
        CONFMGR_GIT_COMMIT = commit;
        meta = {
          inherit description;
          license = lib.licenses.asl20;
          mainProgram = bin;
          platforms = if static then lib.platforms.linux else lib.platforms.unix;
        };
      }
    );
  serverDescription = "ConfMgr: secrets and configuration over a Vault-compatible API";
  cliDescription = "ConfMgr command-line client";

  confmgr-server = binary {
    crate = "confmgr-server";
    bin = "confmgr-server";
    description = serverDescription;
  };
  confmgr = binary {
    crate = "confmgr-cli";
    bin = "confmgr";
    description = cliDescription;
  };
  confmgr-server-static = binary {
    crate = "confmgr-server";
    bin = "confmgr-server";
    description = serverDescription;
    static = true;
  };
  confmgr-static = binary {
    crate = "confmgr-cli";
    bin = "confmgr";
    description = cliDescription;
    static = true;
  };

  images = import ./image.nix {
    inherit
      pkgs
      version
      commit
      confmgr-server-static
      confmgr-static
      ;
  };

  packages = {
    inherit confmgr-server confmgr;
    default = confmgr-server;
  }
  // lib.optionalAttrs isLinux {
    inherit confmgr-server-static confmgr-static;
    inherit (images) confmgr-server-image confmgr-cli-image;
  };

  checks = import ./checks.nix {
    inherit
      self
      pkgs
      craneLib
      src
      testSrc
      pname
      version
      commonArgs
      cargoArtifacts
      advisory-db
      packages
      ;
  };
in
{
  inherit pkgs packages checks;
  devShell = import ./shell.nix { inherit pkgs craneLib checks; };
}
