//! The chain head `confmgr audit verify` expects: `--expect-head SEQ:HASH`, or the newest head
//! in a file (`--head-file`): a `chain_head` line of `CONFMGR_AUDIT_FILE`
//! (`{"type":"chain_head","seq":N,"hash":"…","time":"…"}`) or a sealed event line of
//! `confmgr audit export`, whichever has the highest seq.

use crate::commands::usage_error;
use anyhow::{bail, Context, Result};
use clap::error::ErrorKind;
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub seq: i64,
    /// 64 lowercase hex digits.
    pub hash: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

fn head(seq: i64, hash: &str) -> Option<Head> {
    (seq >= 1 && hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Head {
        seq,
        hash: hash.to_ascii_lowercase(),
    })
}

/// `SEQ:HASH`.
pub(super) fn parse(text: &str) -> Result<Head> {
    text.trim()
        .split_once(':')
        .and_then(|(seq, hash)| head(seq.parse().ok()?, hash))
        .ok_or_else(|| {
            usage_error(
                ErrorKind::InvalidValue,
                format!(
                    "--expect-head {text:?}: use SEQ:HASH, a positive seq and the 64 hex digits \
                     of its hash (`last_seq` and `last_hash` of an earlier `confmgr audit verify`, \
                     or a chain_head line of CONFMGR_AUDIT_FILE)"
                ),
            )
        })
}

/// The head a JSON line carries: a `chain_head` record, or a sealed event.
fn head_of_line(line: &str) -> Option<Head> {
    if !line.contains("\"hash\"") {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    match value.get("type") {
        Some(kind) if kind != "chain_head" => return None,
        _ => {}
    }
    head(value.get("seq")?.as_i64()?, value.get("hash")?.as_str()?)
}

/// The head with the highest seq in `path`.
pub(super) fn from_file(path: &Path) -> Result<Head> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("--head-file {}: cannot open", path.display()))?;
    let mut newest: Option<Head> = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("--head-file {}: cannot read", path.display()))?;
        if let Some(found) = head_of_line(&line) {
            if newest.as_ref().is_none_or(|n| found.seq > n.seq) {
                newest = Some(found);
            }
        }
    }
    match newest {
        Some(head) => Ok(head),
        None => bail!(
            "--head-file {}: no chain head in it: give a CONFMGR_AUDIT_FILE written by a server that sealed events (its `chain_head` lines) or a `confmgr audit export` file holding sealed events",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_from_text() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse(&format!("12:{}", hash.to_uppercase())).unwrap(),
            Head {
                seq: 12,
                hash: hash.clone()
            }
        );
        for bad in [
            "",
            "12",
            "12:",
            "0:",
            "x:y",
            &format!("-1:{hash}"),
            &format!("3:{}", &hash[2..]),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_newest_head_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let (a, b, c) = ("aa".repeat(32), "bb".repeat(32), "cc".repeat(32));
        std::fs::write(
            &path,
            format!(
                "{{\"event_id\":\"e1\",\"path\":\"data/x\"}}\n\
                 {{\"type\":\"chain_head\",\"seq\":7,\"hash\":\"{b}\",\"time\":\"t\"}}\n\
                 {{\"event_id\":\"e0\",\"seq\":5,\"prev_hash\":\"{c}\",\"hash\":\"{a}\"}}\n\
                 {{\"type\":\"other\",\"seq\":99,\"hash\":\"{c}\"}}\n\
                 not json \"hash\"\n"
            ),
        )
        .unwrap();
        assert_eq!(from_file(&path).unwrap(), Head { seq: 7, hash: b });
        std::fs::write(&path, "{\"event_id\":\"e1\"}\n").unwrap();
        let error = from_file(&path).unwrap_err().to_string();
        assert!(error.contains("no chain head"), "{error}");
        assert!(from_file(&dir.path().join("missing")).is_err());
    }
}
