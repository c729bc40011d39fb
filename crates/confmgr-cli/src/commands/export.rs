//! `confmgr export --path P [--path P2] [--format dotenv|json|yaml] [--out FILE]`: the
//! latest data of each secret, merged in order (a later path's key replaces an earlier
//! one's), printed or written to a new private file.

use super::kv::{env_lines, read};
use super::Ctx;
use crate::cli::ExportArgs;
use crate::files;
use crate::output::{yaml, Format};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::io::Write;

/// Merges the data maps in order: later keys replace earlier ones.
pub fn merge(layers: impl IntoIterator<Item = Map<String, Value>>) -> Map<String, Value> {
    let mut merged = Map::new();
    for layer in layers {
        for (key, value) in layer {
            merged.insert(key, value);
        }
    }
    merged
}

/// The merged keys in `format` (env: dotenv lines).
pub fn render(merged: &Map<String, Value>, format: Format) -> Result<String> {
    Ok(match format {
        Format::Env => env_lines(merged)?,
        Format::Yaml => yaml(&Value::Object(merged.clone())),
        // Table is refused up front (`formats`); JSON is the fallback.
        Format::Json | Format::Table => {
            let mut text = serde_json::to_string_pretty(merged)?;
            text.push('\n');
            text
        }
    })
}

pub async fn run(ctx: &Ctx, args: ExportArgs) -> Result<()> {
    let api = ctx.authed()?;
    let mut layers = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let found = read(&api, path, None).await?;
        layers.push(found["data"].as_object().cloned().unwrap_or_default());
    }
    let merged = merge(layers);
    let text = render(&merged, ctx.format)?;
    match &args.out {
        Some(out) => {
            if out.exists() && !args.force {
                bail!("{} exists: pass --force to replace it", out.display());
            }
            // Secrets: the file is created owner-only, never widened afterwards.
            files::write_new(out, text.as_bytes(), files::FILE_MODE, args.force)?;
            eprintln!(
                "wrote {} key{} to {} (mode 0600)",
                merged.len(),
                if merged.len() == 1 { "" } else { "s" },
                out.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("cannot write to standard output")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn later_paths_win() {
        let merged = merge([
            map(json!({"A": "shared", "B": "shared"})),
            map(json!({"B": "prod", "C": "prod"})),
        ]);
        assert_eq!(
            Value::Object(merged.clone()),
            json!({"A": "shared", "B": "prod", "C": "prod"})
        );
        assert_eq!(
            render(&merged, Format::Env).unwrap(),
            "A=shared\nB=prod\nC=prod\n"
        );
        assert_eq!(
            render(&merged, Format::Yaml).unwrap(),
            "A: shared\nB: prod\nC: prod\n"
        );
    }
}
