//! `confmgr gen-env --template .env.example --out .env`: a template's secret placeholders
//! filled with fresh random values; every other byte of the template is kept.
//!
//! A placeholder is `<secret:KIND:N>` or `<secret:root-key>` in the value of a `NAME=value`
//! line (optionally `export NAME=value`), alone or inside a longer value:
//!
//! | placeholder | value |
//! |---|---|
//! | `<secret:alphanumeric:N>` | N characters from `A-Z a-z 0-9` |
//! | `<secret:hex:N>` | N random bytes as 2N lowercase hex digits |
//! | `<secret:base64:N>` | N random bytes, standard base64 with padding |
//! | `<secret:base64url:N>` | N random bytes, URL-safe base64 without padding |
//! | `<secret:root-key>` | 32 random bytes in base64 (the server's CONFMGR_ROOT_KEY) |
//!
//! N is 1 to 1024. Comment lines (`#` first) and lines without `<secret:` are copied as
//! they are. A placeholder that does not parse is an error naming the line, and nothing is
//! written. Randomness comes from the OS CSPRNG.

use crate::files;
use crate::output::Report;
use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::Args;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const OPEN: &str = "<secret:";
const MAX_LEN: usize = 1024;
const ROOT_KEY_BYTES: usize = 32;
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const KINDS: &str = "alphanumeric:N, hex:N, base64:N, base64url:N or root-key";

#[derive(Debug, Args)]
pub struct GenEnvArgs {
    /// The template: NAME=<secret:KIND:N> lines are filled, all others kept.
    #[arg(long, default_value = ".env.example", value_name = "FILE")]
    pub template: PathBuf,
    /// The file to write (mode 0600).
    #[arg(long, default_value = ".env", value_name = "FILE")]
    pub out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Alphanumeric(usize),
    Hex(usize),
    Base64(usize),
    Base64Url(usize),
    RootKey,
}

impl Kind {
    fn parse(spec: &str) -> Result<Self, String> {
        let (name, length) = match spec.split_once(':') {
            Some((name, length)) => (name, Some(length)),
            None => (spec, None),
        };
        let sized = |make: fn(usize) -> Self| -> Result<Self, String> {
            let Some(length) = length else {
                return Err(format!("{name} needs a length: <secret:{name}:N>"));
            };
            match length.parse::<usize>() {
                Ok(n) if (1..=MAX_LEN).contains(&n) => Ok(make(n)),
                _ => Err(format!(
                    "bad length {length:?} for {name}: a number from 1 to {MAX_LEN}"
                )),
            }
        };
        match name {
            "alphanumeric" => sized(Self::Alphanumeric),
            "hex" => sized(Self::Hex),
            "base64" => sized(Self::Base64),
            "base64url" => sized(Self::Base64Url),
            "root-key" if length.is_none() => Ok(Self::RootKey),
            "root-key" => Err("root-key takes no length (it is always 32 bytes)".into()),
            _ => Err(format!("unknown kind {name:?}: use {KINDS}")),
        }
    }

    fn label(self) -> String {
        match self {
            Self::Alphanumeric(n) => format!("alphanumeric:{n}"),
            Self::Hex(n) => format!("hex:{n}"),
            Self::Base64(n) => format!("base64:{n}"),
            Self::Base64Url(n) => format!("base64url:{n}"),
            Self::RootKey => "root-key".into(),
        }
    }

    /// A fresh value, from `random` (the OS CSPRNG outside tests).
    fn generate(self, random: &mut dyn FnMut(&mut [u8])) -> Zeroizing<String> {
        let bytes = |n: usize, random: &mut dyn FnMut(&mut [u8])| {
            let mut buffer = Zeroizing::new(vec![0u8; n]);
            random(&mut buffer);
            buffer
        };
        Zeroizing::new(match self {
            Self::Alphanumeric(n) => alphanumeric(n, random),
            Self::Hex(n) => bytes(n, random).iter().fold(String::new(), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            }),
            Self::Base64(n) => STANDARD.encode(bytes(n, random).as_slice()),
            Self::Base64Url(n) => URL_SAFE_NO_PAD.encode(bytes(n, random).as_slice()),
            Self::RootKey => STANDARD.encode(bytes(ROOT_KEY_BYTES, random).as_slice()),
        })
    }
}

/// `n` characters drawn uniformly from [`ALPHANUMERIC`]: bytes of 248 or more (62 × 4) are
/// drawn again, so no character is likelier than another.
fn alphanumeric(n: usize, random: &mut dyn FnMut(&mut [u8])) -> String {
    let mut out = String::with_capacity(n);
    let mut buffer = Zeroizing::new([0u8; 64]);
    while out.len() < n {
        random(buffer.as_mut());
        for &byte in buffer.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(
                ALPHANUMERIC[usize::from(byte) % ALPHANUMERIC.len()],
            ));
        }
    }
    out
}

/// One generated value: where, and of what kind (never the value).
#[derive(Debug, PartialEq, Eq)]
pub struct Generated {
    pub line: usize,
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct Filled {
    pub text: Zeroizing<String>,
    pub generated: Vec<Generated>,
    pub lines: usize,
}

/// `NAME` of a `NAME=value` or `export NAME=value` line, and where its value starts.
fn assignment(line: &str) -> Option<(&str, usize)> {
    let trimmed = line.trim_start();
    let mut offset = line.len() - trimmed.len();
    let mut rest = trimmed;
    if let Some(after) = rest.strip_prefix("export ") {
        let after_spaces = after.trim_start();
        offset += rest.len() - after_spaces.len();
        rest = after_spaces;
    }
    let (name, _) = rest.split_once('=')?;
    super::run::is_env_name(name).then_some((name, offset + name.len() + 1))
}

/// Fills every placeholder of `template` with a value from `random`.
pub fn fill(template: &str, random: &mut dyn FnMut(&mut [u8])) -> Result<Filled, String> {
    let mut text = Zeroizing::new(String::with_capacity(template.len()));
    let mut generated = Vec::new();
    let mut lines = 0;
    for (index, raw) in template.split_inclusive('\n').enumerate() {
        let number = index + 1;
        lines = number;
        let body = raw.trim_end_matches(['\n', '\r']);
        let is_comment = body.trim_start().starts_with('#');
        if is_comment || !body.contains(OPEN) {
            text.push_str(raw);
            continue;
        }
        let Some((name, value_start)) = assignment(body) else {
            return Err(format!(
                "line {number}: a placeholder must be the value of a NAME=value line"
            ));
        };
        text.push_str(&body[..value_start]);
        let mut rest = &body[value_start..];
        while let Some(start) = rest.find(OPEN) {
            text.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let Some(end) = after.find('>') else {
                return Err(format!(
                    "line {number}: {name}: the placeholder is not closed with '>'"
                ));
            };
            let kind = Kind::parse(&after[..end])
                .map_err(|problem| format!("line {number}: {name}: {problem}"))?;
            text.push_str(&kind.generate(random));
            generated.push(Generated {
                line: number,
                name: name.to_owned(),
                kind,
            });
            rest = &after[end + 1..];
        }
        text.push_str(rest);
        text.push_str(&raw[body.len()..]);
    }
    Ok(Filled {
        text,
        generated,
        lines,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn run(args: &GenEnvArgs) -> Result<Report> {
    let template_shown = args.template.display();
    let out_shown = args.out.display();
    let template = std::fs::read_to_string(&args.template)
        .with_context(|| format!("cannot read the template {template_shown}"))?;
    if same_file(&args.template, &args.out) {
        bail!("--out {out_shown} is the template itself: write to another file");
    }
    if !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        bail!("{out_shown} exists: pass --force to replace it (its values would be lost)");
    }
    let filled = fill(&template, &mut |buffer| OsRng.fill_bytes(buffer))
        .map_err(|problem| anyhow!("{template_shown}: {problem}"))?;
    files::write_new(
        &args.out,
        filled.text.as_bytes(),
        files::FILE_MODE,
        args.force,
    )?;

    let kept = filled.lines
        - filled
            .generated
            .iter()
            .map(|g| g.line)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
    let mut text = format!(
        "wrote {out_shown} (mode 0600): {} generated, {kept} other lines kept\n",
        plural(filled.generated.len(), "value")
    );
    for generated in &filled.generated {
        let _ = writeln!(
            text,
            "  line {:<4} {:<24} {}",
            generated.line,
            generated.name,
            generated.kind.label()
        );
    }
    let json = json!({
        "template": args.template,
        "out": args.out,
        "generated": filled.generated.iter().map(|g| json!({
            "line": g.line,
            "name": g.name,
            "kind": g.kind.label(),
        })).collect::<Vec<_>>(),
        "kept_lines": kept,
    });
    Ok(Report::new(json, text))
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting bytes 0, 1, 2, ... (wrapping): predictable values.
    fn counter() -> impl FnMut(&mut [u8]) {
        let mut next = 0u8;
        move |buffer: &mut [u8]| {
            for byte in buffer {
                *byte = next;
                next = next.wrapping_add(1);
            }
        }
    }

    fn os(buffer: &mut [u8]) {
        OsRng.fill_bytes(buffer);
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::parse("hex:32"), Ok(Kind::Hex(32)));
        assert_eq!(Kind::parse("alphanumeric:1"), Ok(Kind::Alphanumeric(1)));
        assert_eq!(Kind::parse("base64:1024"), Ok(Kind::Base64(1024)));
        assert_eq!(Kind::parse("base64url:16"), Ok(Kind::Base64Url(16)));
        assert_eq!(Kind::parse("root-key"), Ok(Kind::RootKey));
        for bad in [
            "hex",
            "hex:0",
            "hex:1025",
            "hex:-1",
            "hex:x",
            "hex:",
            "Hex:3",
            "uuid",
            "root-key:32",
            "",
        ] {
            assert!(Kind::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_have_the_declared_shape() {
        let mut random = counter();
        assert_eq!(*Kind::Hex(3).generate(&mut random), "000102");
        assert_eq!(*Kind::Base64(3).generate(&mut random), "AwQF");
        let value = Kind::Alphanumeric(100).generate(&mut os);
        assert_eq!(value.len(), 100);
        assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()));
        let value = Kind::Base64Url(33).generate(&mut os);
        assert_eq!(URL_SAFE_NO_PAD.decode(value.as_bytes()).unwrap().len(), 33);
        let key = Kind::RootKey.generate(&mut os);
        assert_eq!(STANDARD.decode(key.as_bytes()).unwrap().len(), 32);
        assert_ne!(
            *Kind::Alphanumeric(32).generate(&mut os),
            *Kind::Alphanumeric(32).generate(&mut os)
        );
    }

    #[test]
    fn alphanumeric_skips_biased_bytes() {
        // 248..=255 are dropped; 0 → 'A', 61 → '9', 62 → 'A' again.
        let mut bytes = vec![250u8, 0, 255, 61, 62];
        bytes.resize(64, 1);
        let mut random = move |buffer: &mut [u8]| buffer.copy_from_slice(&bytes);
        assert_eq!(alphanumeric(3, &mut random), "A9A");
    }

    #[test]
    fn only_placeholders_change() {
        let template = "# <secret:hex:4> in a comment stays\r\n\
                        \n\
                        PLAIN=value\n\
                        export KEY=<secret:hex:2>\r\n\
                        URL=postgres://app:<secret:hex:1>@db/<secret:hex:1>?x=1\n\
                        QUOTED=\"<secret:hex:1>\" # trailing\n\
                        not a variable line\n\
                        LAST=<secret:hex:1>";
        let filled = fill(template, &mut counter()).unwrap();
        assert_eq!(
            *filled.text,
            "# <secret:hex:4> in a comment stays\r\n\
             \n\
             PLAIN=value\n\
             export KEY=0001\r\n\
             URL=postgres://app:02@db/03?x=1\n\
             QUOTED=\"04\" # trailing\n\
             not a variable line\n\
             LAST=05"
        );
        assert_eq!(filled.lines, 8);
        let names: Vec<(usize, &str)> = filled
            .generated
            .iter()
            .map(|g| (g.line, g.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (4, "KEY"),
                (5, "URL"),
                (5, "URL"),
                (6, "QUOTED"),
                (8, "LAST")
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("A=1\nB=<secret:uuid>\n", "line 2: B: unknown kind \"uuid\""),
            ("A=<secret:hex:0>\n", "line 1: A: bad length \"0\""),
            (
                "\n\nA=<secret:hex:32\n",
                "line 3: A: the placeholder is not closed",
            ),
            (
                "A=<secret:root-key:32>\n",
                "line 1: A: root-key takes no length",
            ),
            (
                "<secret:hex:3>\n",
                "line 1: a placeholder must be the value",
            ),
            (
                "1A=<secret:hex:3>\n",
                "line 1: a placeholder must be the value",
            ),
        ];
        for (template, expected) in cases {
            let error = fill(template, &mut counter()).unwrap_err();
            assert!(error.starts_with(expected), "{template:?}: {error}");
        }
    }
}
