//! Secret and text inputs. Every secret can come from a file or from standard input, so it
//! never has to appear in argv (visible to other local users in `ps`).

use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Given on the command line (allowed, but files and stdin are preferred).
    Value(String),
    Stdin,
    File(PathBuf),
}

impl SecretSource {
    /// `-` means standard input.
    pub fn from_value(value: &str) -> Self {
        if value == "-" {
            Self::Stdin
        } else {
            Self::Value(value.to_owned())
        }
    }

    /// A path, where `-` means standard input.
    pub fn from_path(path: &Path) -> Self {
        if path == Path::new("-") {
            Self::Stdin
        } else {
            Self::File(path.to_owned())
        }
    }
}

/// Reads a one-line secret. On a terminal stdin prompts without echo; otherwise reads all
/// of stdin. Surrounding whitespace (the trailing newline of `echo` or a file) is dropped.
pub fn read_secret(source: &SecretSource, what: &str) -> Result<String> {
    let raw = match source {
        SecretSource::Value(value) => value.clone(),
        SecretSource::File(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {}", path.display()))?,
        SecretSource::Stdin if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("{what}: "))
                .with_context(|| format!("cannot read the {what} from the terminal"))?
        }
        SecretSource::Stdin => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read the {what} from standard input"))?;
            text
        }
    };
    clean_secret(&raw, what)
}

fn clean_secret(raw: &str, what: &str) -> Result<String> {
    let secret = raw.trim();
    if secret.is_empty() {
        bail!("the {what} is empty");
    }
    if secret.contains(['\n', '\r']) {
        bail!("the {what} must be a single line");
    }
    Ok(secret.to_owned())
}

/// Reads a whole text (a policy document) from a file, or stdin for `-`.
pub fn read_text(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(SecretSource::from_value("-"), SecretSource::Stdin);
        assert_eq!(
            SecretSource::from_value("abc"),
            SecretSource::Value("abc".into())
        );
        assert_eq!(SecretSource::from_path(Path::new("-")), SecretSource::Stdin);
        assert_eq!(
            SecretSource::from_path(Path::new("/run/s")),
            SecretSource::File("/run/s".into())
        );
    }

    #[test]
    fn secrets_are_trimmed_single_lines() {
        assert_eq!(clean_secret("abc\n", "secret").unwrap(), "abc");
        assert_eq!(clean_secret("  abc\r\n", "secret").unwrap(), "abc");
        assert!(clean_secret("\n", "secret").is_err());
        assert!(clean_secret("a\nb\n", "secret").is_err());
    }

    #[test]
    fn secret_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-id");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let source = SecretSource::File(path);
        assert_eq!(read_secret(&source, "secret id").unwrap(), "s3cr3t");
        let missing = SecretSource::File(dir.path().join("nope"));
        let error = read_secret(&missing, "secret id").unwrap_err().to_string();
        assert!(error.contains("cannot read the secret id"), "{error}");
    }
}
