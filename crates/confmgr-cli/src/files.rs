//! Files that hold credentials: created owner-only from the start (mode 0600, directories
//! 0700), never widened and narrowed afterwards, so there is no moment when another local
//! user could open them.

use anyhow::{Context, Result};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents with mode 0700. An existing directory is left as
/// it is, with a warning when other users may enter it.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    if let Ok(meta) = std::fs::metadata(dir) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} is accessible to other users (mode {:o}); consider chmod 700",
                dir.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    Ok(())
}

/// Creates a new file with mode 0600; fails if `path` exists (nothing is overwritten).
pub fn create_new_private(path: &Path) -> Result<File> {
    create_new_with_mode(path, FILE_MODE)
}

/// Creates a new file with `mode` (less the umask) set at creation; fails if `path` exists.
pub fn create_new_with_mode(path: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes `contents` to a new file created with `mode`; with `replace`, an existing file is
/// replaced atomically (see [`write_with_mode`]) instead of being an error.
pub fn write_new(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    if replace {
        return write_with_mode(path, contents, mode);
    }
    let mut file = create_new_with_mode(path, mode)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` with `contents` atomically: a fresh 0600 file next to it, renamed over
/// it. The result is 0600 even when the old file had a wider mode.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    write_with_mode(path, contents, FILE_MODE)
}

/// Replaces `path` with `contents` atomically: a fresh file of `mode` next to it, renamed
/// over it, so the mode never depends on the old file's.
pub fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let temp = temp_sibling(path);
    let written = (|| -> Result<()> {
        let mut file = create_new_with_mode(&temp, mode)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()))
}

/// Warns when a credential file can be read by other users.
pub fn warn_if_shared(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} is readable by other users (mode {mode:o}); run chmod 600 on it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_dir_and_file_modes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/confmgr");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);

        let file = dir.join("token");
        write_private(&file, b"one\n").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\n");
    }

    #[test]
    fn replacing_a_wide_file_leaves_it_private() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("token");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&file, b"new").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_new_refuses_existing() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("out.json");
        drop(create_new_private(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        assert!(create_new_private(&file).is_err());
    }
}
