//! `confmgr import FILE --path P`: a .env, JSON or YAML file's keys become one new version
//! of secret P.
//!
//! The whole file is read and checked before the server is asked anything, so a malformed
//! file writes nothing and its error names the line. The secret's current version is read
//! first and the write carries it as check-and-set: a change made meanwhile by someone
//! else is a conflict (exit 6), not lost data. All keys go in one write, so one version.
//! Without --merge the file replaces the secret's data (keys not in the file are removed).

use super::kv::{encode_path, shown};
use super::Ctx;
use crate::cli::{ImportArgs, InputFormat};
use crate::dotenv;
use crate::exit;
use crate::http::Api;
use crate::output::{columns, Report};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

/// From this many keys on, import shows progress (a bar on a terminal, lines otherwise).
pub const LARGE: usize = 100;

/// By the file name: `.env`, `.env.*`, `*.env`, `.json`, `.yaml`, `.yml`.
pub fn detect(path: &Path) -> Option<InputFormat> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name == ".env" || name.starts_with(".env.") || name.ends_with(".env") {
        return Some(InputFormat::Dotenv);
    }
    match Path::new(&name).extension()?.to_str()? {
        "json" => Some(InputFormat::Json),
        "yaml" | "yml" => Some(InputFormat::Yaml),
        "env" => Some(InputFormat::Dotenv),
        _ => None,
    }
}

fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Dotenv => "dotenv",
        InputFormat::Json => "json",
        InputFormat::Yaml => "yaml",
    }
}

/// `message at line 3 column 5` → `message` (the location is reported separately).
fn without_location(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

/// The keys of a file, in file order, or a problem naming its line. Never a value in the
/// error.
pub fn parse(text: &str, format: InputFormat) -> Result<Vec<(String, Value)>> {
    match format {
        InputFormat::Dotenv => Ok(dotenv::parse(text)?
            .into_iter()
            .map(|e| (e.key, Value::String(e.value)))
            .collect()),
        InputFormat::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                anyhow::anyhow!(
                    "line {}, column {}: not valid JSON: {}",
                    e.line(),
                    e.column(),
                    without_location(&e.to_string())
                )
            })?;
            let Value::Object(map) = value else {
                bail!("line 1: expected a JSON object of keys to values");
            };
            Ok(map.into_iter().collect())
        }
        InputFormat::Yaml => {
            let value: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
                let message = e.to_string();
                match e.location() {
                    Some(at) => anyhow::anyhow!(
                        "line {}, column {}: not valid YAML: {}",
                        at.line(),
                        at.column(),
                        without_location(&message)
                    ),
                    None => anyhow::anyhow!("not valid YAML: {message}"),
                }
            })?;
            let serde_norway::Value::Mapping(mapping) = value else {
                bail!("line 1: expected a YAML mapping of keys to values");
            };
            let mut out = Vec::with_capacity(mapping.len());
            for (key, value) in mapping {
                let serde_norway::Value::String(key) = key else {
                    let shown = serde_norway::to_string(&key).unwrap_or_default();
                    bail!("key {} is not a string: quote it", shown.trim());
                };
                let value =
                    yaml_to_json(value).map_err(|why| anyhow::anyhow!("key {key}: {why}"))?;
                out.push((key, value));
            }
            Ok(out)
        }
    }
}

/// A YAML value as JSON; tags and non-string keys are refused (without showing values).
fn yaml_to_json(value: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or("a number that JSON cannot hold (infinite or NaN)")?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, inner) in mapping {
                let Y::String(key) = key else {
                    return Err("a nested key is not a string: quote it".into());
                };
                map.insert(key, yaml_to_json(inner)?);
            }
            Value::Object(map)
        }
        Y::Tagged(_) => return Err("YAML tags (!name) are not supported".into()),
    })
}

/// What an import does to each key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Keys of the secret that the file lacks: removed, or kept with --merge.
    pub removed: Vec<String>,
    pub kept: Vec<String>,
    /// The data of the new version.
    pub data: Map<String, Value>,
}

impl Plan {
    pub fn changes(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }

    fn summary(&self) -> String {
        let mut parts = vec![
            format!("{} added", self.added.len()),
            format!("{} changed", self.changed.len()),
            format!("{} unchanged", self.unchanged.len()),
            format!("{} removed", self.removed.len()),
        ];
        if !self.kept.is_empty() {
            parts.push(format!("{} kept", self.kept.len()));
        }
        parts.join(", ")
    }
}

/// Compares the file's keys with the current data, one key at a time (`step` after each).
pub fn plan(
    current: &Map<String, Value>,
    incoming: Vec<(String, Value)>,
    merge: bool,
    step: &mut dyn FnMut(),
) -> Plan {
    let mut plan = Plan::default();
    let mut data = if merge { current.clone() } else { Map::new() };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in incoming {
        match current.get(&key) {
            None => plan.added.push(key.clone()),
            Some(old) if *old == value => plan.unchanged.push(key.clone()),
            Some(_) => plan.changed.push(key.clone()),
        }
        seen.insert(key.clone());
        data.insert(key, value);
        step();
    }
    for key in current.keys().filter(|k| !seen.contains(*k)) {
        if merge {
            plan.kept.push(key.clone());
        } else {
            plan.removed.push(key.clone());
        }
    }
    plan.data = data;
    plan
}

/// A bar on a terminal, a line per tenth otherwise; nothing for small files.
struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
    total: usize,
    done: usize,
    next_line: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        let large = total >= LARGE;
        let terminal = std::io::stderr().is_terminal();
        let bar = (large && terminal).then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} keys")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("comparing");
            bar
        });
        Self {
            bar,
            log: large && !terminal,
            total,
            done: 0,
            next_line: total.div_ceil(10).max(1),
        }
    }

    fn line(&self, text: &str) {
        if self.log {
            eprintln!("import: {text}");
        }
    }

    fn step(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.log && (self.done >= self.next_line || self.done == self.total) {
            eprintln!("import: compared {}/{} keys", self.done, self.total);
            while self.next_line <= self.done {
                self.next_line += self.total.div_ceil(10).max(1);
            }
        }
    }

    fn writing(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_style(ProgressStyle::default_spinner());
            bar.set_message(text.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        self.line(text);
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The current data and version of a secret; a missing secret is version 0 with no keys,
/// and a deleted or destroyed latest version counts as no keys at that version.
async fn current(api: &Api, path: &str) -> Result<(u64, Map<String, Value>)> {
    let url = format!("secret/data/{}", encode_path(path)?);
    match api.get(&url).await {
        Ok(body) => Ok((
            body["data"]["metadata"]["version"].as_u64().unwrap_or(0),
            body["data"]["data"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )),
        Err(error) if error.is_not_found() => Ok((
            error.body()["data"]["metadata"]["version"]
                .as_u64()
                .unwrap_or(0),
            Map::new(),
        )),
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("cannot read {}", shown(path))))
        }
    }
}

fn read_input(file: &Path) -> Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// A value in a table cell: JSON-quoted, so newlines and blanks show.
fn cell(value: Option<&Value>) -> String {
    match value {
        None => "-".into(),
        Some(v) => v.to_string(),
    }
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> Result<Report> {
    let shown_file = args.file.display().to_string();
    let format = match args.input_format.or_else(|| detect(&args.file)) {
        Some(format) => format,
        None => {
            return Err(super::usage_error(
                clap::error::ErrorKind::MissingRequiredArgument,
                format!(
                    "cannot tell the format of {shown_file} from its name: pass --input-format \
                     dotenv, json or yaml"
                ),
            ))
        }
    };
    encode_path(&args.path)?;
    let text = read_input(&args.file)?;
    let incoming = parse(&text, format)
        .with_context(|| shown_file.clone())
        .map_err(|e| anyhow::anyhow!("{e:#}; nothing was written"))?;
    if incoming.is_empty() {
        bail!("{shown_file} holds no keys; nothing was written");
    }
    if let Some((key, _)) = incoming.iter().find(|(key, _)| key.is_empty()) {
        bail!("{shown_file}: key {key:?} is empty; nothing was written");
    }

    let name = shown(&args.path);
    let mut progress = Progress::new(incoming.len());
    progress.line(&format!(
        "{shown_file}: {} keys ({}) for {name}",
        incoming.len(),
        format_name(format)
    ));
    let api = ctx.authed()?;
    let (base, existing) = match current(&api, &args.path).await {
        Ok(found) => found,
        Err(error) => {
            progress.finish();
            return Err(error);
        }
    };
    let plan = plan(&existing, incoming, args.merge, &mut || progress.step());

    let mut json = json!({
        "path": args.path.trim_matches('/'),
        "dry_run": args.dry_run,
        "base_version": base,
        "version": Value::Null,
        "added": plan.added,
        "changed": plan.changed,
        "unchanged": plan.unchanged,
        "removed": plan.removed,
    });
    if args.merge {
        json["kept"] = json!(plan.kept);
    }

    if args.dry_run {
        progress.finish();
        let mut rows: Vec<(String, &str)> = Vec::new();
        rows.extend(plan.added.iter().map(|k| (k.clone(), "added")));
        rows.extend(plan.changed.iter().map(|k| (k.clone(), "changed")));
        rows.extend(plan.removed.iter().map(|k| (k.clone(), "removed")));
        rows.extend(plan.kept.iter().map(|k| (k.clone(), "kept")));
        rows.extend(plan.unchanged.iter().map(|k| (k.clone(), "unchanged")));
        let mut text = if args.show_values {
            let mut values = Map::new();
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(key, change)| {
                    let old = existing.get(key);
                    let new = if *change == "removed" {
                        None
                    } else {
                        plan.data.get(key)
                    };
                    values.insert(key.clone(), json!({ "old": old, "new": new }));
                    vec![key.clone(), (*change).to_owned(), cell(old), cell(new)]
                })
                .collect();
            json["values"] = Value::Object(values);
            columns(&["KEY", "CHANGE", "OLD", "NEW"], &table)
        } else {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(key, change)| vec![key.clone(), (*change).to_owned()])
                .collect();
            columns(&["KEY", "CHANGE"], &table)
        };
        text.push_str(&if plan.changes() {
            format!(
                "dry run: would write {name} version {} ({}); nothing written\n",
                base + 1,
                plan.summary()
            )
        } else {
            format!(
                "dry run: {name} already holds these keys ({}); nothing to write\n",
                plan.summary()
            )
        });
        return Ok(Report::new(json, text));
    }

    if !plan.changes() {
        progress.finish();
        return Ok(Report::new(
            json,
            format!(
                "{name} already holds these keys at version {base} ({}); nothing written",
                plan.summary()
            ),
        ));
    }

    progress.writing(&format!(
        "writing {} keys to {name} as one version (check-and-set: version {base})",
        plan.data.len()
    ));
    let url = format!("secret/data/{}", encode_path(&args.path)?);
    let body = json!({ "data": plan.data, "options": { "cas": base } });
    let answer = api.post(&url, &body).await;
    progress.finish();
    let answer = answer.map_err(|error| {
        if error.is_conflict() {
            exit::conflict(format!(
                "{name} changed while importing (it is no longer at version {base}); nothing \
                 written: run the import again to compare with the new version"
            ))
        } else {
            anyhow::Error::new(error).context(format!("cannot write {name}; nothing written"))
        }
    })?;
    let version = answer
        .as_ref()
        .map_or(Value::Null, |b| b["data"]["version"].clone());
    progress.line(&format!("wrote {name} version {version}"));
    json["version"] = version.clone();
    Ok(Report::new(
        json,
        format!("wrote {name} version {version} ({})", plan.summary()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_name() {
        let d = |name: &str| detect(Path::new(name));
        assert_eq!(d(".env"), Some(InputFormat::Dotenv));
        assert_eq!(d("dir/.env.production"), Some(InputFormat::Dotenv));
        assert_eq!(d("prod.env"), Some(InputFormat::Dotenv));
        assert_eq!(d("a.JSON"), Some(InputFormat::Json));
        assert_eq!(d("a.yml"), Some(InputFormat::Yaml));
        assert_eq!(d("a.txt"), None);
        assert_eq!(d("-"), None);
    }

    #[test]
    fn json_and_yaml_errors_name_the_line() {
        let error = parse("{\n  \"A\": \"s3cret\",\n  \"B\" 1\n}", InputFormat::Json)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("line 3, column 7: not valid JSON: "),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
        let error = parse("A: s3cret\nB: [1\nC: 2\n", InputFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line "), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let error = parse("[1]", InputFormat::Json).unwrap_err().to_string();
        assert!(error.contains("expected a JSON object"), "{error}");
        let error = parse("1: x\n", InputFormat::Yaml).unwrap_err().to_string();
        assert!(error.contains("key 1 is not a string"), "{error}");
        let error = parse("A: !tag s3cret\n", InputFormat::Yaml)
            .unwrap_err()
            .to_string();
        assert!(error.contains("key A: YAML tags"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn yaml_keeps_types_and_order() {
        let parsed = parse("B: 1\nA: text\nC: [true, null]\n", InputFormat::Yaml).unwrap();
        assert_eq!(
            parsed,
            [
                ("B".to_owned(), json!(1)),
                ("A".to_owned(), json!("text")),
                ("C".to_owned(), json!([true, null])),
            ]
        );
    }

    #[test]
    fn plans() {
        let current: Map<String, Value> =
            serde_json::from_value(json!({"same": "1", "diff": "old", "gone": "x"})).unwrap();
        let incoming = vec![
            ("same".to_owned(), json!("1")),
            ("diff".to_owned(), json!("new")),
            ("new".to_owned(), json!("n")),
        ];
        let mut steps = 0;
        let replace = plan(&current, incoming.clone(), false, &mut || steps += 1);
        assert_eq!(steps, 3);
        assert_eq!(replace.added, ["new"]);
        assert_eq!(replace.changed, ["diff"]);
        assert_eq!(replace.unchanged, ["same"]);
        assert_eq!(replace.removed, ["gone"]);
        assert_eq!(
            Value::Object(replace.data),
            json!({"same": "1", "diff": "new", "new": "n"})
        );
        let merged = plan(&current, incoming, true, &mut || ());
        assert!(merged.removed.is_empty());
        assert_eq!(merged.kept, ["gone"]);
        assert_eq!(merged.data["gone"], "x");
        assert!(merged.changes());
        let same = plan(
            &current,
            vec![("same".into(), json!("1"))],
            true,
            &mut || (),
        );
        assert!(!same.changes());
    }
}
