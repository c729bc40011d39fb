//! Which `--format` values each command can print, checked before the command runs so that
//! a format that does not apply is a usage error and never a half-done command.

use super::usage_error;
use crate::cli::{AuditCommand, Command, KvCommand};
use crate::output::{resolve_format, Format};
use anyhow::Result;
use clap::error::ErrorKind;

const ALL: &[Format] = &[Format::Table, Format::Json, Format::Yaml, Format::Env];
const DOCUMENTS: &[Format] = &[Format::Table, Format::Json, Format::Yaml];
const STREAMS: &[Format] = &[Format::Table, Format::Json];
const EXPORT: &[Format] = &[Format::Env, Format::Json, Format::Yaml];

/// The formats a command prints and its default.
fn formats(command: &Command) -> (&'static [Format], Option<Format>) {
    match command {
        // One value is printed as it is, terminal or not (`x=$(confmgr kv get … --field k)`).
        Command::Kv(KvCommand::Get { field: Some(_), .. }) => (ALL, Some(Format::Table)),
        Command::Kv(KvCommand::Get { .. }) => (ALL, None),
        Command::Export(_) => (EXPORT, Some(Format::Env)),
        Command::Audit(AuditCommand::Tail { .. } | AuditCommand::Export { .. }) => (STREAMS, None),
        _ => (DOCUMENTS, None),
    }
}

/// The command as typed (`kv list`, `gen-env`): the first two subcommand variant names of
/// its `Debug` form in kebab case. Only names are taken, never argument values.
fn command_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    let mut words = Vec::new();
    let mut rest = debug.as_str();
    for _ in 0..2 {
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        // Argument structs (`ExportArgs`) are not subcommands.
        if word.is_empty()
            || !word.starts_with(|c: char| c.is_ascii_uppercase())
            || word.ends_with("Args")
        {
            break;
        }
        let mut kebab = String::new();
        for (i, c) in word.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                kebab.push('-');
            }
            kebab.push(c.to_ascii_lowercase());
        }
        words.push(kebab);
        // A tuple variant wraps the next level: `Kv(List { .. })`.
        match rest[end..].strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    words.join(" ")
}

fn names(formats: &[Format]) -> String {
    let names: Vec<&str> = formats
        .iter()
        .map(|f| {
            if *f == Format::Env {
                "env (dotenv)"
            } else {
                f.name()
            }
        })
        .collect();
    names.join(", ")
}

/// The format to print in: the flag if the command supports it, else the command's default
/// (table on a terminal and JSON otherwise, unless the command has its own).
pub fn resolve(command: &Command, flag: Option<Format>) -> Result<Format> {
    let (allowed, default) = formats(command);
    match flag {
        Some(format) if !allowed.contains(&format) => {
            let why = if format == Format::Env {
                " (KEY=value lines are for a secret's keys: `kv get` and `export`)"
            } else {
                ""
            };
            Err(usage_error(
                ErrorKind::InvalidValue,
                format!(
                    "--format {} does not apply to `confmgr {}`{why}; use {}",
                    format.name(),
                    command_name(command),
                    names(allowed)
                ),
            ))
        }
        Some(format) => Ok(format),
        None => Ok(default.unwrap_or_else(|| resolve_format(None))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn resolved(args: &[&str]) -> Result<Format> {
        let cli = Cli::try_parse_from(std::iter::once("confmgr").chain(args.iter().copied()))?;
        resolve(&cli.command, cli.format)
    }

    #[test]
    fn env_only_where_keys_are_printed() {
        assert_eq!(
            resolved(&["kv", "get", "a", "--format", "env"]).unwrap(),
            Format::Env
        );
        assert_eq!(
            resolved(&["kv", "get", "a", "--format", "dotenv"]).unwrap(),
            Format::Env
        );
        let error = resolved(&["kv", "list", "--format", "env"]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("--format env does not apply to `confmgr kv list`"),
            "{error}"
        );
        assert_eq!(
            resolved(&["kv", "list", "--format", "yaml"]).unwrap(),
            Format::Yaml
        );
    }

    #[test]
    fn export_defaults_to_dotenv_and_has_no_table() {
        assert_eq!(resolved(&["export", "--path", "a"]).unwrap(), Format::Env);
        assert!(resolved(&["export", "--path", "a", "--format", "table"]).is_err());
        assert_eq!(
            resolved(&["export", "--path", "a", "--format", "yaml"]).unwrap(),
            Format::Yaml
        );
    }

    #[test]
    fn names_commands_as_typed() {
        let name = |args: &[&str]| {
            let cli = Cli::try_parse_from(std::iter::once("confmgr").chain(args.iter().copied()))
                .unwrap();
            command_name(&cli.command)
        };
        assert_eq!(name(&["status"]), "status");
        assert_eq!(name(&["kv", "put", "a", "password=s3cret"]), "kv put");
        assert_eq!(
            name(&["client", "rotate-secret", "x"]),
            "client rotate-secret"
        );
        assert_eq!(name(&["export", "--path", "a"]), "export");
        assert_eq!(name(&["login", "--method", "token"]), "login");
        assert_eq!(name(&["client", "create", "x"]), "client create");
        assert_eq!(name(&["pki", "issue", "client", "--cn", "x"]), "pki issue");
    }

    #[test]
    fn streams_are_table_or_json() {
        assert!(resolved(&["audit", "tail", "--format", "yaml"]).is_err());
        assert_eq!(
            resolved(&["audit", "tail", "--format", "json"]).unwrap(),
            Format::Json
        );
    }
}
