//! `--version` prints the git commit too (crates/confmgr-build).
fn main() {
    confmgr_build::emit_version();
}
