# The NixOS module in a VM (`nix flake check`, or `nix build .#checks.x86_64-linux.nixos-module`):
# a local PostgreSQL 16 that admits ConfMgr only with a client certificate, the service
# initialized by the module, a secret written and read back with the CLI, read again after a
# restart, and the unit's hardening as systemd reports it.
{ self, pkgs }:
let
  inherit (pkgs.stdenv.hostPlatform) system;
  pki = "/var/lib/confmgr-test-pki";
in
pkgs.testers.runNixOSTest {
  name = "confmgr-nixos-module";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      virtualisation.memorySize = 1024;
      environment.systemPackages = [
        self.packages.${system}.confmgr
        pkgs.openssl
      ];

      # Test-only keys and certificates, made at boot before PostgreSQL starts: a CA, the
      # server's certificate for 127.0.0.1 (owned by postgres) and the client's for CN confmgr.
      systemd.services.confmgr-test-pki = {
        wantedBy = [ "multi-user.target" ];
        before = [
          "postgresql.service"
          "confmgr.service"
        ];
        requiredBy = [
          "postgresql.service"
          "confmgr.service"
        ];
        path = [ pkgs.openssl ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          set -eu
          umask 077
          mkdir -p ${pki} /etc/confmgr
          chmod 0755 ${pki} # PostgreSQL reads its certificate and key here
          cd ${pki}
          openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj /CN=confmgr-test-ca -keyout ca-key.pem -out ca.pem \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
          issue() { # name cn ext
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
              -subj "/CN=$2" -keyout "$1-key.pem" -out "$1.csr"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
              -days 2 -out "$1.pem" -extfile <(printf '%s\n' "$3")
          }
          issue server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
          extendedKeyUsage=serverAuth"
          issue client confmgr "extendedKeyUsage=clientAuth"
          chmod 0644 ca.pem server.pem client.pem
          chown postgres:postgres server-key.pem
          head -c 32 /dev/urandom | base64 >/etc/confmgr/root.key
        '';
      };

      services.confmgr = {
        enable = true;
        rootKeyFile = "/etc/confmgr/root.key";
        initialize = true;
        settings = {
          listen = "127.0.0.1:8200";
          log_format = "json";
        };
        database = {
          createLocally = true;
          caFile = "${pki}/ca.pem";
          serverCertFile = "${pki}/server.pem";
          serverKeyFile = "${pki}/server-key.pem";
          clientCertFile = "${pki}/client.pem";
          clientKeyFile = "${pki}/client-key.pem";
        };
      };
    };

  testScript = ''
    machine.wait_for_unit("confmgr.service")
    machine.wait_for_open_port(8200)

    # The token `init` wrote for the administrator, readable by root only.
    machine.succeed("test \"$(stat -L -c %a /var/lib/confmgr/root-token)\" = 600")
    token = machine.succeed("sed -n 's/^Root token.*: //p' /var/lib/confmgr/root-token").strip()
    assert token, "no root token in /var/lib/confmgr/root-token"
    cli = f"CONFMGR_ADDR=http://127.0.0.1:8200 CONFMGR_TOKEN={token} confmgr"

    machine.succeed(f"{cli} kv put app/db username=app password=s3cr3t")
    got = machine.succeed(f"{cli} kv get app/db --field password").strip()
    assert got == "s3cr3t", f"read back {got!r}"

    # A restart: init finds the database initialized, the same root key opens it.
    machine.succeed("systemctl restart confmgr.service")
    machine.wait_for_open_port(8200)
    got = machine.succeed(f"{cli} kv get app/db --field password").strip()
    assert got == "s3cr3t", f"after restart read back {got!r}"

    # PostgreSQL refuses ConfMgr's role without the client certificate.
    refused = machine.succeed(
        "psql 'postgres://confmgr@127.0.0.1/confmgr?sslmode=verify-full"
        "&sslrootcert=${pki}/ca.pem' -c 'select 1' 2>&1 && echo CONNECTED || true"
    )
    assert "certificate" in refused and "CONNECTED" not in refused, refused

    # The hardening is in force.
    props = machine.succeed(
        "systemctl show confmgr.service -p DynamicUser -p NoNewPrivileges "
        "-p CapabilityBoundingSet -p ProtectSystem"
    )
    for want in ["DynamicUser=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "ProtectSystem=strict"]:
        assert want in props + "\n", f"{want!r} not in {props!r}"
    denied = machine.succeed(
        "runuser -u nobody -- cat /run/credentials/confmgr.service/root-key 2>&1 || true"
    )
    assert "Permission denied" in denied, denied
  '';
}
