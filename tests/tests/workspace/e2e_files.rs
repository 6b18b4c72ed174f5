//! What `saga-local serve` leaves on disk: the database holds task tokens
//! and approval ids, the outbox approval links, so every directory under
//! the data directory is `0700` and every file `0600`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::spawn_local;

/// Every path under `root` (itself included) with its permission bits.
fn walk(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let is_dir = meta.is_dir();
        found.push((path.clone(), is_dir, meta.permissions().mode() & 0o7777));
        if is_dir {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_and_directory_of_the_data_dir_is_private_to_its_user() {
    let local = spawn_local().await;
    let id = local.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    local.await_status(&id, "AWAITING_APPROVAL").await;
    local.approval_mail(&id).await;
    let data_dir = local.server().store().path().parent().unwrap().to_owned();

    let found = walk(&data_dir);

    let names: Vec<String> = found
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data_dir).unwrap().display().to_string())
        .collect();
    for expected in [
        "",
        "saga.db",
        "saga.db-wal",
        "saga.db-shm",
        "lock",
        "outbox",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected:?} in {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("outbox/") && n.contains("-approvals-")),
        "no approval mail in {names:?}"
    );
    let loose: Vec<String> = found
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, _, mode)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "not private: {loose:#?}");
}
