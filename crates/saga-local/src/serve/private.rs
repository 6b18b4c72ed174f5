//! Everything `serve` writes is private to its user: the database holds live
//! task tokens (in the approvals table and in each waiting execution's
//! history, as Step Functions' history does) and approval ids, and the
//! outbox holds approval links, each a bearer capability to decide an order.
//! Directories are created `0700`, files `0600`, and anything older with
//! looser modes (a data directory of an earlier version, or made by hand) is
//! tightened at start, and reported.
//!
//! SQLite creates `saga.db-wal` and `saga.db-shm` with the database file's
//! permission bits, so the database file is created here (empty, `0600`)
//! before SQLite opens it.
//!
//! On other platforms than Unix these are plain creates (no mode bits).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Mode of the directories `serve` creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files `serve` creates.
pub const FILE_MODE: u32 = 0o600;

/// Paths whose modes were tightened (for the start-up banner).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tightened(pub Vec<PathBuf>);

impl Tightened {
    fn record(&mut self, path: &Path, changed: bool) {
        if changed {
            self.0.push(path.to_owned());
        }
    }
}

/// Create `dir` (and missing parents) `0700`, or tighten it to `0700`.
pub fn create_dir(dir: &Path, tightened: &mut Tightened) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    tightened.record(dir, restrict(dir, DIR_MODE)?);
    Ok(())
}

/// Open `path` for reading and writing, created `0600` if missing, and
/// tightened to `0600` if it was looser.
pub fn open_file(path: &Path, truncate: bool, tightened: &mut Tightened) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path)?;
    tightened.record(path, restrict_open(&file, FILE_MODE)?);
    Ok(file)
}

/// Tighten `path` to `0600` if it exists (a file SQLite made).
pub fn tighten_file(path: &Path, tightened: &mut Tightened) -> io::Result<()> {
    match restrict(path, FILE_MODE) {
        Ok(changed) => {
            tightened.record(path, changed);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `chmod mode` when the permission bits differ; whether they did.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let now = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if now == mode {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(true)
}

#[cfg(unix)]
fn restrict_open(file: &File, mode: u32) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let now = file.metadata()?.permissions().mode() & 0o7777;
    if now == mode {
        return Ok(false);
    }
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(true)
}

#[cfg(not(unix))]
fn restrict(path: &Path, _mode: u32) -> io::Result<bool> {
    std::fs::metadata(path).map(|_| false)
}

#[cfg(not(unix))]
fn restrict_open(_file: &File, _mode: u32) -> io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_paths_are_private_and_loose_old_ones_are_tightened_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let file = dir.join("f");
        let mut fresh = Tightened::default();
        create_dir(&dir, &mut fresh).unwrap();
        open_file(&file, false, &mut fresh).unwrap();
        assert_eq!(
            (mode(&dir), mode(&tmp.path().join("a")), mode(&file)),
            (0o700, 0o700, 0o600)
        );
        assert_eq!(fresh, Tightened::default(), "nothing was loose");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut old = Tightened::default();
        create_dir(&dir, &mut old).unwrap();
        tighten_file(&file, &mut old).unwrap();
        tighten_file(&dir.join("missing"), &mut old).unwrap();

        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
        assert_eq!(old.0, [dir, file]);
    }
}
