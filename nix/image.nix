# The OCI images, with the Dockerfile's runtime contract (doc/containers.md, doc/nix.md): the
# static binary under /usr/local/bin, CA certificates at /etc/ssl/certs/ca-certificates.crt,
# passwd/group with the non-root user 65532 (`nonroot`), nothing else (no shell, no package
# manager). `nix build .#confmgr-server-image && ./result | docker load` (a streamed image:
# the result is a script that writes the tarball).
{
  pkgs,
  version,
  commit,
  confmgr-server-static,
  confmgr-static,
}:
let
  # The same tree as scripts/containers/rootfs.sh makes for the Dockerfile's final stages.
  rootfs =
    name: binary: bin:
    pkgs.runCommand "${name}-rootfs" { } ''
      mkdir -p $out/usr/local/bin $out/etc/ssl/certs
      install -m 0755 ${binary}/bin/${bin} $out/usr/local/bin/${bin}
      install -m 0644 ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
      printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >$out/etc/passwd
      printf 'root:x:0:\nnonroot:x:65532:\n' >$out/etc/group
    '';
  # The Dockerfile's labels; a local build names no source, as there.
  labels = title: description: {
    "org.opencontainers.image.title" = title;
    "org.opencontainers.image.description" = description;
    "org.opencontainers.image.source" = "unknown";
    "org.opencontainers.image.version" = version;
    "org.opencontainers.image.revision" = commit;
    "org.opencontainers.image.licenses" = "Apache-2.0";
  };
  # Docker's healthcheck durations are nanoseconds.
  seconds = s: s * 1000000000;
in
{
  confmgr-server-image = pkgs.dockerTools.streamLayeredImage {
    name = "localhost/confmgr-server";
    tag = "dev";
    contents = [ (rootfs "confmgr-server" confmgr-server-static "confmgr-server") ];
    config = {
      User = "65532:65532";
      Env = [
        "CONFMGR_LISTEN=0.0.0.0:8200"
        "PATH=/usr/local/bin"
      ];
      ExposedPorts."8200/tcp" = { };
      Entrypoint = [ "/usr/local/bin/confmgr-server" ];
      Cmd = [ "serve" ];
      Healthcheck = {
        Test = [
          "CMD"
          "/usr/local/bin/confmgr-server"
          "healthcheck"
        ];
        Interval = seconds 10;
        Timeout = seconds 6;
        StartPeriod = seconds 30;
        Retries = 3;
      };
      Labels = labels "confmgr-server" "ConfMgr: secrets and configuration over a Vault-compatible API";
    };
  };

  confmgr-cli-image = pkgs.dockerTools.streamLayeredImage {
    name = "localhost/confmgr-cli";
    tag = "dev";
    contents = [ (rootfs "confmgr-cli" confmgr-static "confmgr") ];
    config = {
      User = "65532:65532";
      Env = [ "PATH=/usr/local/bin" ];
      Entrypoint = [ "/usr/local/bin/confmgr" ];
      Cmd = [ "--help" ];
      Labels = labels "confmgr-cli" "ConfMgr command-line client";
    };
  };
}
