//! What a command prints: every command builds a [`Report`] holding its renderings, and the
//! format decides which one reaches stdout (text on a terminal, JSON otherwise). YAML is the
//! JSON value written as YAML; `env` (KEY=value lines) exists only for commands that print a
//! secret's keys, and `commands::formats` refuses it elsewhere before anything runs.

use clap::ValueEnum;
use serde_json::Value;
use std::io::IsTerminal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text and tables.
    Table,
    /// JSON (the default when stdout is not a terminal).
    Json,
    /// YAML: the same document as JSON.
    Yaml,
    /// KEY=value lines, shell-quoted (for a secret's keys: `kv get`, `export`).
    #[value(name = "env", alias = "dotenv")]
    Env,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Yaml => "yaml",
            Self::Env => "env",
        }
    }
}

pub fn resolve_format(flag: Option<Format>) -> Format {
    flag.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    })
}

#[derive(Debug)]
pub struct Report {
    pub json: Value,
    pub text: String,
    /// KEY=value lines, for reports of a secret's keys.
    pub env: Option<String>,
    /// The text is printed exactly as it is (no newline added): a value for `$(...)` or a
    /// file.
    pub exact: bool,
}

impl Report {
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
            env: None,
            exact: false,
        }
    }

    /// A report whose text is one value, printed byte for byte in the default format.
    pub fn exact(json: Value, text: impl Into<String>) -> Self {
        Self {
            exact: true,
            ..Self::new(json, text)
        }
    }

    pub fn with_env(mut self, env: String) -> Self {
        self.env = Some(env);
        self
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut out = serde_json::to_string_pretty(&self.json).unwrap_or_default();
                out.push('\n');
                out
            }
            Format::Yaml => yaml(&self.json),
            // Refused before the command runs when the report has no env rendering.
            Format::Env => self.env.clone().unwrap_or_default(),
            Format::Table => {
                let mut out = self.text.clone();
                if !self.exact && !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out
            }
        }
    }
}

/// A JSON value as a YAML document (`{}`-style flow for an empty map, as serde writes it).
pub fn yaml(value: &Value) -> String {
    let mut out = serde_norway::to_string(value).unwrap_or_default();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Two columns, keys padded to the widest; the lines of a multi-line value are aligned
/// under its first (one final newline is not shown).
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    let indent = format!("\n{:width$}  ", "");
    rows.iter()
        .map(|(key, value)| {
            let value = value.strip_suffix('\n').unwrap_or(value);
            format!("{key:<width$}  {}\n", value.replace('\n', &indent))
        })
        .collect()
}

/// A table with a header row; every column padded to its widest cell.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A list of names, `-` for none.
pub fn joined(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// Strings of a JSON array value.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON scalar as text; `-` for null or missing.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Seconds as a duration (`1h30m`, `0s`); accepts a number or a duration string.
pub fn duration(value: &Value) -> String {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(crate::ttl::format_seconds)
            .unwrap_or_else(|| n.to_string()),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_both_formats() {
        let report = Report::new(json!({"a": 1}), "a  1");
        assert_eq!(report.render(Format::Table), "a  1\n");
        assert_eq!(report.render(Format::Json), "{\n  \"a\": 1\n}\n");
        assert_eq!(report.render(Format::Yaml), "a: 1\n");
        assert_eq!(report.render(Format::Env), "");
        let report = report.with_env("A=1\n".into());
        assert_eq!(report.render(Format::Env), "A=1\n");
        assert_eq!(yaml(&json!([])), "[]\n");
        let exact = Report::exact(json!("pw"), "pw");
        assert_eq!(exact.render(Format::Table), "pw");
        assert_eq!(exact.render(Format::Json), "\"pw\"\n");
    }

    #[test]
    fn tables() {
        assert_eq!(
            fields(&[("name", "app".into()), ("policies", "a, b".into())]),
            "name      app\npolicies  a, b\n"
        );
        assert_eq!(
            columns(
                &["NAME", "ID"],
                &[
                    vec!["app".into(), "1".into()],
                    vec!["ci-deploy".into(), "22".into()]
                ]
            ),
            "NAME       ID\napp        1\nci-deploy  22\n"
        );
        assert_eq!(
            fields(&[("cert", "a\nb\n".into()), ("k", "v".into())]),
            "cert  a\n      b\nk     v\n"
        );
        assert_eq!(joined(&[]), "-");
        assert_eq!(duration(&json!(5400)), "1h30m");
        assert_eq!(duration(&json!("1h")), "1h");
        assert_eq!(scalar(&Value::Null), "-");
    }
}
