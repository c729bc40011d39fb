//! Command-line syntax (clap). Behaviour lives in `commands`.

use crate::client_spec::{DEFAULT_SECRET_TTL, DEFAULT_TOKEN_MAX_TTL, DEFAULT_TOKEN_TTL};
use crate::output::Format;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "confmgr",
    version = env!("CONFMGR_VERSION_LONG"),
    about = "ConfMgr command-line client",
    after_long_help = crate::exit::HELP
)]
pub struct Cli {
    /// Server address [env: CONFMGR_ADDR, then VAULT_ADDR] [default: http://127.0.0.1:8200]
    #[arg(long, global = true, value_name = "URL")]
    pub addr: Option<String>,
    /// Token. Prefer `confmgr login` or CONFMGR_TOKEN (then VAULT_TOKEN): a flag is visible
    /// to other local users. Without any, the token file written by `confmgr login` is used.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// PEM CA bundle to trust for an HTTPS server, instead of the built-in roots
    /// [env: CONFMGR_CACERT, then VAULT_CACERT]
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate to present (cert login, or a server requiring one)
    /// [env: CONFMGR_CLIENT_CERT, then VAULT_CLIENT_CERT]
    #[arg(long, global = true, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert [env: CONFMGR_CLIENT_KEY, then VAULT_CLIENT_KEY]
    #[arg(long, global = true, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Output format [default: table on a terminal, json otherwise; export: dotenv].
    /// env (alias dotenv) applies to `kv get` and `export` only.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Is the server up?
    Status,
    /// Log in and store the token in <config dir>/confmgr/token (mode 0600).
    Login(LoginArgs),
    /// Key/value secrets on mount `secret`.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Print the keys of one or more secrets merged (later --path wins) as dotenv, JSON or
    /// YAML (--format; default dotenv).
    Export(ExportArgs),
    /// Write a .env, JSON or YAML file's keys to a secret as one new version (check-and-set
    /// against the version read first). Nothing is written if the file has a problem.
    Import(ImportArgs),
    /// API clients (machine identities, AppRole roles).
    #[command(subcommand)]
    Client(ClientCommand),
    /// ACL policies (Vault HCL).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The token in use, or another by accessor.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log: query, follow, verify and export events.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a shell completion script: `confmgr completions bash > /etc/bash_completion.d/confmgr`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// A development certificate authority: TLS certificates for the server, PostgreSQL and
    /// clients (no server needed).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Run a command with secrets as environment variables (signals forwarded, its exit
    /// code returned; --watch restarts it on a new version).
    Run(crate::commands::run::RunArgs),
    /// Fill a .env template's <secret:KIND:N> placeholders with fresh random values.
    GenEnv(crate::commands::gen_env::GenEnvArgs),
    /// The server's keyring: status, rotation, rewrap of data keys, retiring old terms.
    #[command(subcommand)]
    Keys(crate::commands::keys::KeysCommand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LoginMethod {
    /// A client's id (role_id) and secret (secret_id).
    Approle,
    /// An existing token, checked with the server.
    Token,
    /// The client certificate given by --client-cert and --client-key (`auth/cert/login`).
    Cert,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(long, value_enum, default_value = "approle")]
    pub method: LoginMethod,
    /// The client id (AppRole role_id), with --method approle.
    #[arg(long, value_name = "ID")]
    pub role_id: Option<String>,
    /// The client secret; `-` reads it from stdin (prompting on a terminal).
    #[arg(
        long,
        value_name = "SECRET",
        conflicts_with = "secret_id_file",
        allow_hyphen_values = true
    )]
    pub secret_id: Option<String>,
    /// Read the client secret from FILE (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub secret_id_file: Option<PathBuf>,
    /// With --method token: read the token from FILE (`-` or absent: stdin).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// With --method cert: the client to log in as, when the certificate matches several.
    #[arg(long, value_name = "CLIENT")]
    pub name: Option<String>,
    /// Print the new token (it is never printed otherwise).
    #[arg(long)]
    pub print_token: bool,
    /// Do not write the token file (with --print-token, to hand the token on).
    #[arg(long)]
    pub no_store: bool,
}

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Print a secret's data (--format env: KEY=value lines).
    Get {
        path: String,
        /// Read this version instead of the latest.
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        /// Print only this key's value, exactly as stored (for `$(...)` and files), unless
        /// --format json, yaml or env is given.
        #[arg(long, value_name = "KEY")]
        field: Option<String>,
    },
    /// Write a new version holding exactly these keys. KEY=@FILE reads the value from FILE,
    /// KEY=- from stdin (prompting without echo on a terminal), so that secrets need not
    /// appear in shell history or `ps`.
    Put {
        path: String,
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Check-and-set: write only if the current version is N (0: only if the secret does
        /// not exist yet). A mismatch exits with code 6 and changes nothing.
        #[arg(long, value_name = "N")]
        cas: Option<u64>,
    },
    /// Change some keys and keep the others (a JSON merge patch; the secret must exist).
    Patch {
        path: String,
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Remove this key (repeat, or separate with commas).
        #[arg(long, value_name = "KEY", value_delimiter = ',')]
        unset: Vec<String>,
        /// Check-and-set: patch only if the current version is N.
        #[arg(long, value_name = "N")]
        cas: Option<u64>,
    },
    /// List the secrets and folders (ending in /) under a folder.
    List {
        /// The folder [default: the top of the mount].
        path: Option<String>,
        /// Descend into every folder and print full paths relative to PATH.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Show a secret's metadata; with a setting flag, change it first.
    Metadata {
        path: String,
        /// Keep at most N versions (0: the mount's setting).
        #[arg(long, value_name = "N")]
        max_versions: Option<u64>,
        /// Require --cas on every write to this secret.
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        cas_required: Option<bool>,
        /// Soft-delete each new version after this long (`0s`: never).
        #[arg(long, value_name = "DURATION")]
        delete_version_after: Option<String>,
        /// Replace the custom metadata with these KEY=VALUE pairs (repeat).
        #[arg(long = "custom-metadata", value_name = "KEY=VALUE")]
        custom_metadata: Vec<String>,
    },
    /// The versions of a secret: when each was created, deleted or destroyed.
    History { path: String },
    /// Write the data of an earlier version as a new version (the server copies it: the
    /// token needs `update` on the secret, not `read`).
    Rollback {
        path: String,
        /// The version whose data becomes current again.
        #[arg(long, value_name = "N", required = true)]
        version: u64,
        /// Check-and-set: roll back only if the current version is N.
        #[arg(long, value_name = "N")]
        cas: Option<u64>,
    },
    /// Soft-delete the latest version, or the given versions (`kv undelete` restores them);
    /// --all-versions removes the secret with every version and its metadata for good.
    Delete {
        path: String,
        /// Versions to delete (repeat, or separate with commas) [default: the latest].
        #[arg(
            long = "version",
            visible_alias = "versions",
            value_name = "N",
            value_delimiter = ',',
            conflicts_with = "all_versions"
        )]
        versions: Vec<u64>,
        /// Remove every version and the metadata permanently (cannot be undone).
        #[arg(long)]
        all_versions: bool,
    },
    /// Restore soft-deleted versions.
    Undelete {
        path: String,
        /// Versions to restore (repeat, or separate with commas).
        #[arg(
            long = "version",
            visible_alias = "versions",
            value_name = "N",
            value_delimiter = ',',
            required = true
        )]
        versions: Vec<u64>,
    },
    /// Erase the data of versions for good (their metadata stays; cannot be undone).
    Destroy {
        path: String,
        /// Versions to destroy (repeat, or separate with commas).
        #[arg(
            long = "version",
            visible_alias = "versions",
            value_name = "N",
            value_delimiter = ',',
            required = true
        )]
        versions: Vec<u64>,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A secret to export (repeat: keys of later paths replace the same keys of earlier ones).
    #[arg(long = "path", value_name = "PATH", required = true)]
    pub paths: Vec<String>,
    /// Write to this file, created with mode 0600, instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// The format of a file to import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// KEY=value lines (`.env`).
    #[value(alias = "env")]
    Dotenv,
    /// A JSON object.
    Json,
    /// A YAML mapping.
    #[value(alias = "yml")]
    Yaml,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: .env (also .env.*, *.env), .json, .yaml or .yml; `-` reads stdin.
    pub file: PathBuf,
    /// The secret to write.
    #[arg(long, value_name = "PATH")]
    pub path: String,
    /// The file's format, when its name does not tell.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// Show which keys would be added, changed, left or removed, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: show old and new values too (they are secrets: mind the terminal).
    #[arg(long, requires = "dry_run")]
    pub show_values: bool,
    /// Keep the secret's keys that the file does not have [default: the file replaces the
    /// whole secret].
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    pub name: String,
    /// A policy for the client's tokens (repeat, or separate with commas).
    #[arg(long = "policy", value_name = "POLICY", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Token lifetime (`1h`, `30m`, seconds).
    #[arg(long, default_value = DEFAULT_TOKEN_TTL, value_name = "DURATION")]
    pub token_ttl: String,
    /// Longest lifetime of a token, renewals included.
    #[arg(long, default_value = DEFAULT_TOKEN_MAX_TTL, value_name = "DURATION")]
    pub token_max_ttl: String,
    /// Lifetime of the client secret (0: no expiry).
    #[arg(long, default_value = DEFAULT_SECRET_TTL, value_name = "DURATION")]
    pub secret_ttl: String,
    /// Logins allowed with the client secret (0: unlimited).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub secret_uses: u32,
    /// Where the client secret may be used from (repeat for several).
    #[arg(long = "bound-cidr", value_name = "CIDR", value_delimiter = ',')]
    pub bound_cidrs: Vec<String>,
    /// Client certificates whose common name matches log in as this client
    /// (`auth/cert/login`; `*` matches any run of characters; repeat for several).
    #[arg(long = "cert-cn", value_name = "PATTERN")]
    pub cert_cns: Vec<String>,
    /// ... whose DNS subjectAltName matches (all given kinds must match).
    #[arg(long = "cert-dns", value_name = "PATTERN")]
    pub cert_dns: Vec<String>,
    /// ... whose URI subjectAltName matches, e.g. a SPIFFE id `spiffe://prod/ns/app/sa/api`.
    #[arg(long = "cert-uri", value_name = "PATTERN")]
    pub cert_uris: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client and its first secret (shown once).
    Create(ClientCreateArgs),
    /// List client names.
    List,
    /// Show a client's settings and the accessors of its secrets.
    Show { name: String },
    /// Add a new secret; existing ones stay valid until revoked (rotation without downtime).
    RotateSecret { name: String },
    /// Revoke one secret by its accessor.
    RevokeSecret {
        name: String,
        /// Accessors may start with `-`.
        #[arg(allow_hyphen_values = true)]
        accessor: String,
    },
    /// Delete a client and all its secrets.
    Delete { name: String },
    /// Create clients from a YAML or JSON list; the whole file is checked first.
    Import {
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Write the generated credentials as JSON to this new file (mode 0600) instead of
        /// stdout.
        #[arg(long, value_name = "FILE")]
        secrets_out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create or replace a policy from an HCL file (`-` for stdin).
    Write { name: String, file: PathBuf },
    /// Print a policy's text.
    Read { name: String },
    /// List policy names.
    List,
    /// Delete a policy.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show the token in use, or the token with this accessor.
    Lookup {
        #[arg(long, allow_hyphen_values = true)]
        accessor: Option<String>,
    },
    /// Revoke the token in use (and remove the token file), or a token by accessor.
    #[command(group(ArgGroup::new("which").required(true).args(["self_", "accessor"])))]
    Revoke {
        #[arg(long = "self")]
        self_: bool,
        #[arg(long, allow_hyphen_values = true)]
        accessor: Option<String>,
    },
}

/// How a request ended, as the audit log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditOutcome {
    Ok,
    Denied,
    #[value(name = "not_found")]
    NotFound,
    Invalid,
    Error,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::NotFound => "not_found",
            Self::Invalid => "invalid",
            Self::Error => "error",
        }
    }
}

/// Which events (all given filters must match).
#[derive(Clone, Debug, Default, Args)]
pub struct AuditSelect {
    /// Only events of this actor (client name, or a token's display name such as
    /// `approle-app` or `root`).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only events whose path inside its mount starts with P (`data/app/` matches
    /// secret/data/app/...; `role/` matches auth/approle/role/...).
    #[arg(long, value_name = "P")]
    pub path_prefix: Option<String>,
    /// Only this operation: read, list, write, patch, delete, login.
    #[arg(long, value_name = "OP")]
    pub operation: Option<String>,
    /// Only this outcome.
    #[arg(long, value_enum)]
    pub outcome: Option<AuditOutcome>,
}

/// A time range: RFC 3339 (`2026-01-31T12:00:00Z`) or a duration ago (`15m`, `2h`, `7d`).
#[derive(Clone, Debug, Default, Args)]
pub struct AuditRange {
    /// Events at or after TIME.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events before TIME.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Events matching the filters, oldest first (all pages, or the first N).
    Query {
        #[command(flatten)]
        range: AuditRange,
        #[command(flatten)]
        select: AuditSelect,
        /// At most N events.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// Events per request (testing).
        #[arg(long, hide = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
        page_size: u64,
    },
    /// The latest events; with --follow, new events as they are recorded until Ctrl-C.
    /// Its own requests to the audit log are not shown.
    Tail {
        /// How many of the latest events to print first.
        #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
        lines: u64,
        /// Keep polling for new events.
        #[arg(short, long)]
        follow: bool,
        /// Time between polls with --follow (`1s`, `5s`, `1m`).
        #[arg(long, default_value = "1s", value_name = "DURATION")]
        interval: String,
        #[command(flatten)]
        select: AuditSelect,
    },
    /// Check the hash chain; exit code 1 (and the first broken link) when it is broken.
    /// With --expect-head or --head-file, also that the chain still reaches a head noted
    /// earlier (a truncated tail is found only this way).
    Verify {
        /// The chain must reach SEQ and hold HASH there: a head noted earlier (`last_seq` and
        /// `last_hash` of a report, or a `chain_head` line of CONFMGR_AUDIT_FILE).
        #[arg(long, value_name = "SEQ:HASH", conflicts_with = "head_file")]
        expect_head: Option<String>,
        /// Take the expected head from FILE: the highest seq among its `chain_head` lines
        /// (CONFMGR_AUDIT_FILE) and sealed event lines (`confmgr audit export`).
        #[arg(long, value_name = "FILE")]
        head_file: Option<PathBuf>,
    },
    /// Every matching event as a JSON line, to stdout or a new file (mode 0600).
    /// --format does not apply.
    Export {
        /// Write to this new file instead of stdout (an existing file is not overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        range: AuditRange,
        #[command(flatten)]
        select: AuditSelect,
        /// Events per request (testing).
        #[arg(long, hide = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
        page_size: u64,
    },
}

/// The key algorithm of a new certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (widely supported).
    #[default]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    /// Ed25519 (not accepted by every TLS stack).
    Ed25519,
}

/// Options shared by every `pki` command.
#[derive(Clone, Debug, Args)]
pub struct PkiCommon {
    /// The directory holding ca.pem and ca-key.pem and receiving the new files.
    #[arg(long, default_value = "pki", value_name = "DIR")]
    pub dir: PathBuf,
    /// Key algorithm of the new key.
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PkiInitArgs {
    /// Common name of the CA.
    #[arg(long, default_value = "ConfMgr Development CA", value_name = "NAME")]
    pub cn: String,
    /// Validity in days.
    #[arg(long, default_value_t = 3650, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: u32,
    #[command(flatten)]
    pub common: PkiCommon,
}

#[derive(Debug, Args)]
pub struct PkiServerArgs {
    /// A DNS name the server is reached by (repeat, or separate with commas).
    #[arg(long = "dns", value_name = "NAME", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// An IP address the server is reached by (repeat, or separate with commas).
    #[arg(long = "ip", value_name = "ADDR", value_delimiter = ',')]
    pub ip: Vec<String>,
    /// Common name [default: the first DNS name or IP address]. TLS clients ignore it.
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 397, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: u32,
    /// Base name of the files: NAME.pem, NAME-key.pem, NAME-chain.pem.
    #[arg(long, default_value = "server", value_name = "NAME")]
    pub out: String,
    #[command(flatten)]
    pub common: PkiCommon,
}

#[derive(Debug, Args)]
pub struct PkiClientArgs {
    /// Common name; PostgreSQL `cert` authentication requires the database user here.
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// A DNS name to add as a SAN (repeat, or separate with commas).
    #[arg(long = "dns", value_name = "NAME", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// A URI to add as a SAN, such as a SPIFFE id `spiffe://example.org/app` (repeat).
    #[arg(long = "uri", value_name = "URI")]
    pub uri: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 397, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub days: u32,
    /// Base name of the files: NAME.pem, NAME-key.pem, NAME-chain.pem [default: client].
    #[arg(long, default_value = "client", value_name = "NAME")]
    pub out: String,
    #[command(flatten)]
    pub common: PkiCommon,
}

#[derive(Debug, Subcommand)]
pub enum PkiIssueCommand {
    /// A TLS server certificate (serverAuth) with DNS and IP SANs, signed by the CA.
    Server(PkiServerArgs),
    /// A TLS client certificate (clientAuth) with a CN, signed by the CA.
    Client(PkiClientArgs),
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a development CA: ca.pem and ca-key.pem (mode 0600).
    Init(PkiInitArgs),
    /// Issue a certificate signed by the CA: NAME.pem, NAME-key.pem (0600), NAME-chain.pem.
    #[command(subcommand)]
    Issue(PkiIssueCommand),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("confmgr").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn client_create_flags() {
        let cli = parse(&[
            "client",
            "create",
            "app",
            "--policy",
            "a",
            "--policy",
            "b,c",
            "--token-ttl",
            "30m",
            "--bound-cidr",
            "10.0.0.0/8",
        ])
        .unwrap();
        let Command::Client(ClientCommand::Create(args)) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.policies, ["a", "b", "c"]);
        assert_eq!(args.token_ttl, "30m");
        assert_eq!(args.token_max_ttl, "24h");
        assert_eq!(args.secret_ttl, "0");
        assert_eq!(args.bound_cidrs, ["10.0.0.0/8"]);
    }

    #[test]
    fn global_flags_anywhere() {
        let cli = parse(&["policy", "list", "--format", "json", "--addr", "http://x"]).unwrap();
        assert_eq!(cli.format, Some(Format::Json));
        assert_eq!(cli.addr.as_deref(), Some("http://x"));
    }

    #[test]
    fn usage_errors() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&["token", "revoke"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["token", "revoke", "--self", "--accessor", "a"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["login", "--secret-id", "-", "--secret-id-file", "f"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["login", "--method", "ldap"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["kv", "put", "a"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["audit", "query", "--outcome", "fine"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            kind(&["audit", "query", "--limit", "0"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn accessors_may_start_with_a_hyphen() {
        let cli = parse(&["token", "revoke", "--accessor", "-bX9kq2"]).unwrap();
        let Command::Token(TokenCommand::Revoke { accessor, .. }) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(accessor.as_deref(), Some("-bX9kq2"));
        let cli = parse(&["token", "lookup", "--accessor", "-x"]).unwrap();
        let Command::Token(TokenCommand::Lookup { accessor }) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(accessor.as_deref(), Some("-x"));
        let cli = parse(&["client", "revoke-secret", "app", "-bX9kq2"]).unwrap();
        let Command::Client(ClientCommand::RevokeSecret { accessor, .. }) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(accessor, "-bX9kq2");
        let cli = parse(&["login", "--role-id", "r", "--secret-id", "-Zk.q"]).unwrap();
        let Command::Login(args) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.secret_id.as_deref(), Some("-Zk.q"));
    }

    #[test]
    fn audit_flags() {
        let cli = parse(&[
            "audit",
            "export",
            "--out",
            "a.jsonl",
            "--since",
            "1h",
            "--outcome",
            "not_found",
            "--path-prefix",
            "data/app/",
        ])
        .unwrap();
        let Command::Audit(AuditCommand::Export {
            out,
            range,
            select,
            page_size,
        }) = cli.command
        else {
            panic!("wrong command");
        };
        assert_eq!(out, Some(PathBuf::from("a.jsonl")));
        assert_eq!(range.since.as_deref(), Some("1h"));
        assert_eq!(select.outcome, Some(AuditOutcome::NotFound));
        assert_eq!(select.path_prefix.as_deref(), Some("data/app/"));
        assert_eq!(page_size, 1000);

        let cli = parse(&["audit", "tail", "-f", "-n", "5", "--interval", "2s"]).unwrap();
        let Command::Audit(AuditCommand::Tail {
            lines,
            follow,
            interval,
            ..
        }) = cli.command
        else {
            panic!("wrong command");
        };
        assert_eq!((lines, follow, interval.as_str()), (5, true, "2s"));
    }

    #[test]
    fn pki_flags() {
        let cli = parse(&[
            "pki",
            "issue",
            "server",
            "--dns",
            "localhost,postgres",
            "--ip",
            "127.0.0.1",
        ])
        .unwrap();
        let Command::Pki(PkiCommand::Issue(PkiIssueCommand::Server(args))) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.dns, ["localhost", "postgres"]);
        assert_eq!(args.ip, ["127.0.0.1"]);
        assert_eq!((args.days, args.out.as_str()), (397, "server"));
        assert_eq!(args.common.dir, PathBuf::from("pki"));
        assert_eq!(args.common.key_type, KeyType::EcdsaP256);
        assert!(!args.common.force);

        let cli = parse(&["pki", "init", "--key-type", "ed25519", "--force"]).unwrap();
        let Command::Pki(PkiCommand::Init(args)) = cli.command else {
            panic!("wrong command");
        };
        assert_eq!(args.days, 3650);
        assert_eq!(args.common.key_type, KeyType::Ed25519);
        assert!(args.common.force);

        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&["pki", "issue", "client"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["pki", "init", "--days", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["pki", "init", "--key-type", "dsa"]),
            ErrorKind::InvalidValue
        );
    }
}
