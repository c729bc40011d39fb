//! `client import`: reading and checking the whole file before anything is created, and
//! the progress shown while clients are created.
//!
//! The file is a YAML or JSON list of
//! `{name, policies, token_ttl, token_max_ttl, secret_ttl, secret_uses, bound_cidrs}`.

use crate::client_spec::{ClientSpec, RawClientSpec};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Yaml,
    Json,
}

/// By extension (`.json`, `.yaml`, `.yml`), else by content: JSON starts with `[` or `{`.
pub fn detect(path: &Path, text: &str) -> FileFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => FileFormat::Json,
        Some(ext) if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") => {
            FileFormat::Yaml
        }
        _ if text.trim_start().starts_with(['[', '{']) => FileFormat::Json,
        _ => FileFormat::Yaml,
    }
}

/// Every entry checked; an error lists every bad entry by position (from 1) and name.
pub fn parse(text: &str, format: FileFormat) -> Result<Vec<ClientSpec>> {
    let document: Value = match format {
        FileFormat::Json => serde_json::from_str(text).context("not valid JSON")?,
        FileFormat::Yaml => serde_norway::from_str(text).context("not valid YAML")?,
    };
    let Value::Array(entries) = document else {
        bail!("expected a list of clients at the top level");
    };
    if entries.is_empty() {
        bail!("the file lists no clients");
    }
    let total = entries.len();
    let mut specs: Vec<ClientSpec> = Vec::with_capacity(total);
    let mut problems: Vec<String> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let label = match entry.get("name").and_then(Value::as_str) {
            Some(name) => format!("entry {} of {total} ({name:?})", index + 1),
            None => format!("entry {} of {total}", index + 1),
        };
        let checked = serde_json::from_value::<RawClientSpec>(entry)
            .map_err(anyhow::Error::from)
            .and_then(|raw| raw.validate());
        match checked {
            Ok(spec) => {
                if let Some(first) = specs.iter().position(|s| s.name == spec.name) {
                    problems.push(format!("{label}: same name as entry {}", first + 1));
                }
                specs.push(spec);
            }
            Err(error) => problems.push(format!("{label}: {error:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(specs)
}

/// A counter on a terminal, one line per client otherwise (logs).
pub struct Progress {
    total: usize,
    terminal: bool,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn creating(&self, index: usize, name: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K[{}/{}] creating {name}", index + 1, self.total);
        }
    }

    pub fn created(&self, index: usize, name: &str) {
        if !self.terminal {
            eprintln!("created client {name} ({}/{})", index + 1, self.total);
        }
    }

    pub fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
- name: app
  policies: [app-read]
- name: ci
  policies:
    - ci-deploy
  token_ttl: 15m
  token_max_ttl: 1h
  secret_ttl: 30d
  secret_uses: 10
  bound_cidrs: [10.0.0.0/8]
- name: ops
  token_ttl: 600
";

    #[test]
    fn detects_format() {
        assert_eq!(detect(Path::new("a.json"), "- x"), FileFormat::Json);
        assert_eq!(detect(Path::new("a.YML"), "[]"), FileFormat::Yaml);
        assert_eq!(detect(Path::new("a.txt"), "  [{}]"), FileFormat::Json);
        assert_eq!(detect(Path::new("-"), "- name: a"), FileFormat::Yaml);
    }

    #[test]
    fn parses_yaml() {
        let specs = parse(YAML, FileFormat::Yaml).unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[1].name, "ci");
        assert_eq!(specs[1].token_ttl, 900);
        assert_eq!(specs[1].secret_ttl, 30 * 86_400);
        assert_eq!(specs[1].secret_uses, 10);
        assert_eq!(specs[1].bound_cidrs, ["10.0.0.0/8"]);
        assert_eq!(specs[2].token_ttl, 600);
        assert_eq!(specs[2].token_max_ttl, 86_400);
    }

    #[test]
    fn parses_json() {
        let text = r#"[{"name":"a","policies":["p"],"secret_uses":1}]"#;
        let specs = parse(text, FileFormat::Json).unwrap();
        assert_eq!(specs[0].policies, ["p"]);
    }

    #[test]
    fn reports_every_bad_entry() {
        let text = "\
- name: good
- name: typo
  polices: [x]
- policies: [y]
- name: bad-ttl
  token_ttl: soon
- name: good
- name: neg
  secret_uses: -1
";
        let message = format!("{:#}", parse(text, FileFormat::Yaml).unwrap_err());
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 5, "{message}");
        assert!(
            lines[0].starts_with("entry 2 of 6 (\"typo\"): unknown field `polices`"),
            "{message}"
        );
        assert!(
            lines[1].starts_with("entry 3 of 6: missing field `name`"),
            "{message}"
        );
        assert!(
            lines[2].starts_with("entry 4 of 6 (\"bad-ttl\"): token_ttl: invalid duration"),
            "{message}"
        );
        assert_eq!(lines[3], "entry 5 of 6 (\"good\"): same name as entry 1");
        assert!(
            lines[4].starts_with("entry 6 of 6 (\"neg\"): invalid value"),
            "{message}"
        );
    }

    #[test]
    fn rejects_other_shapes() {
        assert!(parse("name: a", FileFormat::Yaml).is_err());
        assert!(parse("[]", FileFormat::Json).is_err());
        assert!(parse("[", FileFormat::Json).is_err());
    }
}
