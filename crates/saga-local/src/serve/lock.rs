//! One server per data directory: `<data-dir>/lock`, held with an exclusive
//! `flock` for as long as the server runs (the kernel drops it when the
//! process ends, also after SIGKILL). Two servers on one directory would both
//! resume the same running executions and run their steps twice.
//!
//! The file holds the pid of the holder, for the error message only; it is
//! private (`0600`) like everything in the data directory.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::serve::private::{self, Tightened};

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data directory {} is in use by another saga-local (pid {pid}); stop it or use another --data-dir",
        path.display()
    )]
    InUse { path: PathBuf, pid: String },
    #[error("cannot lock the data directory {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock (released when dropped or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Lock `data_dir` (which must exist) or say who holds it; a lock file with
/// looser modes than `0600` is tightened (and added to `tightened`).
pub fn lock(data_dir: &Path, tightened: &mut Tightened) -> Result<DataDirLock, LockError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: data_dir.to_owned(),
        source,
    };
    let mut file = private::open_file(&path, false, tightened).map_err(io)?;
    if !try_lock(&file).map_err(io)? {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        let pid = match pid.trim() {
            "" => "unknown".to_owned(),
            p => p.to_owned(),
        };
        return Err(LockError::InUse {
            path: data_dir.to_owned(),
            pid,
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DataDirLock { _file: file })
}

/// `Ok(false)` when another open file holds the lock.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Not locked elsewhere: only one server per directory, by convention.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path(), &mut Tightened::default()).unwrap();

        let second = lock(dir.path(), &mut Tightened::default()).unwrap_err();

        let message = second.to_string();
        assert!(
            message.contains("is in use by another saga-local")
                && message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        drop(held);
        lock(dir.path(), &mut Tightened::default()).expect("free again once the holder is gone");
    }
}
