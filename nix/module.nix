# `services.confmgr`: the server as a hardened systemd service, its settings in the
# environment, the root key through systemd credentials, and optionally a local PostgreSQL 16
# that admits ConfMgr only over TLS with a client certificate. doc/nix.md has an example.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.confmgr;
  db = cfg.database;
  inherit (lib) mkOption mkEnableOption mkIf types;

  exe = lib.getExe cfg.package;
  port = toString config.services.postgresql.settings.port;

  # `settings.log_format = "json"` -> CONFMGR_LOG_FORMAT=json; booleans as true/false.
  render = v: if lib.isBool v then lib.boolToString v else toString v;
  environment = lib.mapAttrs' (
    name: value: lib.nameValuePair "CONFMGR_${lib.toUpper name}" (render value)
  ) (lib.filterAttrs (_: v: v != null) cfg.settings);

  # The files systemd hands the service (LoadCredential, below) are in $CREDENTIALS_DIRECTORY,
  # readable by the service's user only: the root key and the database client's files.
  withCredentials = pkgs.writeShellScript "confmgr-credentials" ''
    set -eu
    export CONFMGR_ROOT_KEY_FILE="$CREDENTIALS_DIRECTORY/root-key"
    ${lib.optionalString (cfg.tls.certFile != null) ''
      export CONFMGR_TLS_CERT="$CREDENTIALS_DIRECTORY/tls-cert.pem"
      export CONFMGR_TLS_KEY="$CREDENTIALS_DIRECTORY/tls-key.pem"
    ''}
    ${lib.optionalString db.createLocally ''
      export CONFMGR_DATABASE_URL="postgres://confmgr@127.0.0.1:${port}/confmgr?sslmode=verify-full&sslrootcert=$CREDENTIALS_DIRECTORY/db-ca.pem&sslcert=$CREDENTIALS_DIRECTORY/db-client.pem&sslkey=$CREDENTIALS_DIRECTORY/db-client-key.pem"
    ''}
    ${lib.optionalString (db.createLocally && !(cfg.settings ? kms_key_id)) ''
      # Trust the local CA alone for PostgreSQL, not the system CAs besides it (doc/tls.md,
      # residual trust). Not with KMS, whose HTTPS endpoint needs the system CAs.
      export SSL_CERT_FILE="$CREDENTIALS_DIRECTORY/db-ca.pem"
      unset SSL_CERT_DIR
    ''}
    exec "$@"
  '';

  # `confmgr-server init` once per database (CONFMGR_INIT_IF_NEEDED: later starts find it
  # initialized and print nothing). The root token goes to a file, never to the journal.
  initScript = pkgs.writeShellScript "confmgr-init" ''
    set -eu
    umask 077
    out="$(CONFMGR_INIT_IF_NEEDED=true ${exe} init)"
    if [ -n "$out" ]; then printf '%s\n' "$out" >"$STATE_DIRECTORY/root-token"; fi
  '';
in
{
  options.services.confmgr = {
    enable = mkEnableOption "ConfMgr, a secret manager with a Vault-compatible API";

    package = mkOption {
      type = types.package;
      description = "The confmgr-server package (the flake's module sets its own build).";
    };

    settings = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.str
          ]
        )
      );
      default = { };
      example = {
        listen = "0.0.0.0:8200";
        log_format = "json";
        audit_retention_days = 90;
      };
      description = ''
        Server settings, each rendered to the environment variable `CONFMGR_<NAME>` (upper
        case): every setting of doc/getting-started.md's table. Secrets do not belong here
        (the environment is visible to root in /proc): the root key is `rootKeyFile`, the
        HTTPS key `tls.keyFile`.
      '';
    };

    rootKeyFile = mkOption {
      type = types.str;
      example = "/etc/confmgr/root.key";
      description = ''
        File holding the root key (base64 of 32 bytes, `head -c 32 /dev/urandom | base64`),
        readable by root only. systemd passes it to the service as a credential. A string,
        not a Nix path, so that it never enters the world-readable Nix store.
      '';
    };

    tls = {
      certFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/confmgr/tls/server-chain.pem";
        description = "HTTPS certificate chain (CONFMGR_TLS_CERT), passed to the service as a credential. Without it the server speaks plain HTTP.";
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/confmgr/tls/server-key.pem";
        description = "HTTPS private key (CONFMGR_TLS_KEY), readable by root only; passed as a credential.";
      };
    };

    initialize = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Run `confmgr-server init` before the first start (CONFMGR_INIT_IF_NEEDED): the root
        token lands in /var/lib/confmgr/root-token (mode 0600). Store it elsewhere and delete
        the file.
      '';
    };

    database = {
      createLocally = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Run PostgreSQL 16 on this machine with TLS on, database and role `confmgr`, and a
          pg_hba.conf that admits `confmgr` only over TLS from 127.0.0.1 with a client
          certificate whose CN is `confmgr`. The certificate files below are yours to make
          (`confmgr pki`, doc/tls.md); sets CONFMGR_DATABASE_URL.
        '';
      };
      caFile = mkOption {
        type = types.str;
        description = "CA certificate that signed both the PostgreSQL server and the client certificate.";
      };
      serverCertFile = mkOption {
        type = types.str;
        description = "PostgreSQL's certificate (chain).";
      };
      serverKeyFile = mkOption {
        type = types.str;
        description = "PostgreSQL's key, owned by `postgres` with mode 0600.";
      };
      clientCertFile = mkOption {
        type = types.str;
        description = "ConfMgr's client certificate (CN `confmgr`).";
      };
      clientKeyFile = mkOption {
        type = types.str;
        description = "ConfMgr's client key, passed to the service as a credential.";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !(db.createLocally && cfg.settings ? database_url);
        message = "services.confmgr: database.createLocally sets the database URL; drop settings.database_url";
      }
      {
        assertion = (cfg.tls.certFile == null) == (cfg.tls.keyFile == null);
        message = "services.confmgr: set tls.certFile and tls.keyFile together";
      }
      {
        assertion = !(cfg.settings ? tls_cert || cfg.settings ? tls_key);
        message = "services.confmgr: the HTTPS certificate and key come from tls.certFile and tls.keyFile (credentials), not settings";
      }
      {
        assertion = !(cfg.settings ? root_key || cfg.settings ? root_key_file);
        message = "services.confmgr: the root key comes from rootKeyFile (a systemd credential), not settings";
      }
    ];

    services.postgresql = mkIf db.createLocally {
      enable = true;
      package = lib.mkDefault pkgs.postgresql_16;
      # The default listen_addresses (localhost) is all ConfMgr on this machine needs.
      ensureDatabases = [ "confmgr" ];
      ensureUsers = [
        {
          name = "confmgr";
          ensureDBOwnership = true;
        }
      ];
      settings = {
        ssl = true;
        ssl_cert_file = db.serverCertFile;
        ssl_key_file = db.serverKeyFile;
        ssl_ca_file = db.caFile;
        ssl_min_protocol_version = "TLSv1.2";
      };
      # The administrator over the local socket as `postgres`; ConfMgr only with TLS and a
      # verified client certificate; nothing else.
      authentication = lib.mkForce ''
        local all postgres peer
        hostssl confmgr confmgr 127.0.0.1/32 cert clientcert=verify-full
      '';
    };

    systemd.services.confmgr = {
      description = "ConfMgr secret manager";
      wantedBy = [ "multi-user.target" ];
      # postgresql-setup.service creates the role and database on NixOS releases that split
      # it out; Restart= covers a first start that still finds them missing.
      after = [
        "network-online.target"
      ]
      ++ lib.optionals db.createLocally [
        "postgresql.service"
        "postgresql-setup.service"
      ];
      wants = [ "network-online.target" ];
      requires = lib.optional db.createLocally "postgresql.service";
      inherit environment;
      serviceConfig = {
        ExecStartPre = lib.optional cfg.initialize "${withCredentials} ${initScript}";
        ExecStart = "${withCredentials} ${exe} serve";
        Restart = "on-failure";
        RestartSec = 5;
        LoadCredential = [
          "root-key:${cfg.rootKeyFile}"
        ]
        ++ lib.optionals (cfg.tls.certFile != null) [
          "tls-cert.pem:${cfg.tls.certFile}"
          "tls-key.pem:${cfg.tls.keyFile}"
        ]
        ++ lib.optionals db.createLocally [
          "db-ca.pem:${db.caFile}"
          "db-client.pem:${db.clientCertFile}"
          "db-client-key.pem:${db.clientKeyFile}"
        ];
        StateDirectory = "confmgr";
        StateDirectoryMode = "0700";
        UMask = "0077";

        # Hardening: no privileges, no capabilities, a read-only system, system calls of an
        # ordinary network service only.
        DynamicUser = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateUsers = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
