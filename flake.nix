{
  description = "ConfMgr: secrets and configuration over a Vault-compatible API";

  # flake.lock pins these; doc/nix.md says how to update them. An input's `url` here must match
  # its node's `original` in flake.lock exactly (scripts/nix/check.sh checks that).
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    advisory-db = {
      url = "github:rustsec/advisory-db";
      flake = false;
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      rust-overlay,
      advisory-db,
    }:
    let
      inherit (nixpkgs) lib;
      # Static binaries, images, the NixOS module and its VM test are Linux-only; the dynamic
      # packages and the dev shell build on macOS too.
      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      allSystems = linuxSystems ++ [
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      # Everything for one system: nix/packages.nix (crane builds, images), nix/checks.nix,
      # nix/shell.nix.
      perSystem = lib.genAttrs allSystems (
        system:
        import ./nix/packages.nix {
          inherit
            self
            nixpkgs
            crane
            rust-overlay
            advisory-db
            system
            ;
        }
      );
      forAll = f: lib.mapAttrs (_: f) perSystem;
    in
    {
      packages = forAll (s: s.packages);
      checks = forAll (s: s.checks);
      devShells = forAll (s: { default = s.devShell; });
      formatter = forAll (s: s.pkgs.nixfmt);

      # `services.confmgr` (doc/nix.md); its package defaults to this flake's build for the
      # machine's system (no overlay, so it also works where nixpkgs.pkgs is fixed, as in tests).
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.confmgr.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.confmgr-server;
        };
      overlays.default = final: _prev: {
        confmgr-server = self.packages.${final.stdenv.hostPlatform.system}.confmgr-server;
        confmgr = self.packages.${final.stdenv.hostPlatform.system}.confmgr;
      };
    };
}
