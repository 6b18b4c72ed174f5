//! The outbox: what SNS would send, one file per message.
//!
//! Each message is written to an unnamed file of the directory (Linux's
//! `O_TMPFILE`; elsewhere a hidden temporary file) and then linked under its
//! final name, so a reader never sees half a file and two messages never
//! overwrite each other. Names sort by time:
//! `20261121T183000.123Z-approvals-01KD…-1.txt` (topic, then the order id
//! when the subject names one, then a counter). A file holds
//!
//! ```text
//! Topic: approvals
//! Subject: Approval needed: order 01KD… (1490.00 EUR)
//! Date: 2026-11-21T18:30:00.123Z
//!
//! <the message body>
//! ```
//!
//! Every message also gets a console line; an approval message gets its
//! approve / reject links (they are in the body: the task token never is).
//!
//! A message leaves only once what the steps wrote before it is committed
//! ([`AfterCommit`]): an approval link finds its approval after a crash.
//!
//! Delivery is at least once, as with SNS: a step killed after writing its
//! message but before its execution saved the next state runs again after a
//! restart and writes the message again (a second file). An unnamed file
//! of a killed writer vanishes with it; temporary `.tmp-*` files (where
//! there are no unnamed files) are removed at start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use saga_core::ports::{Message, Notifier, StoreError, Topic};
use saga_core::{Clock, OrderId};
use saga_sqlite::SqliteStore;

use crate::serve::console::Console;
use crate::serve::private::{self, Tightened};

/// A [`Notifier`] writing into a directory.
pub struct OutboxNotifier {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    console: Arc<Console>,
    counter: AtomicU64,
}

debug_naming!(OutboxNotifier, dir);

/// The first word of `text` that is an order id.
pub fn order_id_in(text: &str) -> Option<OrderId> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|w| OrderId::parse(w).ok())
}

/// The approve and reject links of an approval message body.
pub fn approval_links(body: &str) -> (Option<&str>, Option<&str>) {
    let mut urls = body
        .split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"));
    let mut approve = None;
    let mut reject = None;
    for url in urls.by_ref() {
        if url.ends_with("decision=approve") {
            approve = Some(url);
        } else if url.ends_with("decision=reject") {
            reject = Some(url);
        }
    }
    (approve, reject)
}

impl OutboxNotifier {
    /// Write into `dir` (created if missing; temporary files a killed
    /// writer left behind are removed).
    pub fn new(dir: &Path, clock: Arc<dyn Clock>, console: Arc<Console>) -> std::io::Result<Self> {
        private::create_dir(dir, &mut Tightened::default())?;
        remove_leftovers(dir, STALE_TMP);
        Ok(Self {
            dir: dir.to_owned(),
            clock,
            console,
            counter: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write the message off the async runtime; the final file name.
    async fn write(&self, topic: Topic, message: &Message) -> std::io::Result<PathBuf> {
        let now = self.clock.now().as_datetime();
        let stamp = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let order = order_id_in(&message.subject)
            .or_else(|| order_id_in(&message.body))
            .map(|id| format!("-{id}"))
            .unwrap_or_default();
        let text = format!(
            "Topic: {}\nSubject: {}\nDate: {}\n\n{}\n",
            topic.as_str(),
            message.subject,
            now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            message.body.trim_end()
        );
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.clone();
        let prefix = format!("{stamp}-{}{order}", topic.as_str());
        tokio::task::spawn_blocking(move || write_file(&dir, &prefix, n, &text))
            .await
            .map_err(std::io::Error::other)?
    }

    fn announce(&self, topic: Topic, message: &Message, file: &Path) {
        let order = order_id_in(&message.subject)
            .map(|id| id.to_string())
            .unwrap_or_else(|| "-".repeat(26));
        let file = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        match topic {
            Topic::Approvals => {
                let (approve, reject) = approval_links(&message.body);
                self.console.line(&format!(
                    "{order} >> {}\n{:27}approve: {}\n{:27}reject:  {}\n{:27}(outbox/{file})",
                    message.subject,
                    "",
                    approve.unwrap_or("?"),
                    "",
                    reject.unwrap_or("?"),
                    ""
                ));
            }
            Topic::Notifications => self.console.line(&format!(
                "{order} >> notification: {} (outbox/{file})",
                message.subject
            )),
            Topic::Alerts => self.console.line(&format!(
                "{order} !! ALERT: {} (outbox/{file})",
                message.subject
            )),
        }
    }
}

/// A temporary file lives for the milliseconds of one write; one older than
/// this was left by a process that died (another server may share the
/// outbox, so fresh ones are not touched).
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(60);

/// Remove the `.tmp-*` files in `dir` older than `age`; how many.
fn remove_leftovers(dir: &Path, age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether `name` is a file the outbox writes: a message or a temporary one.
fn is_ours(name: &str) -> bool {
    name.starts_with(".tmp-")
        || (name.ends_with(".txt")
            && [Topic::Approvals, Topic::Notifications, Topic::Alerts]
                .iter()
                .any(|t| name.contains(&format!("-{}-", t.as_str()))))
}

/// Tighten the messages (and temporary files) in `dir` to `0600`: an outbox
/// written before they were created private (the directory itself is
/// [`private::create_dir`]'s). Files the outbox did not write are left alone.
pub fn tighten_messages(dir: &Path, tightened: &mut Tightened) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && is_ours(&entry.file_name().to_string_lossy()) {
            private::tighten_file(&entry.path(), tightened)?;
        }
    }
    Ok(())
}

/// Write `text` as a new message file `<prefix>-<seq>.txt` in `dir`
/// (`0600`: an approval message is a capability), complete once it has a
/// name, never replacing a file: the sequence counts up from `n + 1`. Not
/// fsynced: like the SQLite database (WAL, `synchronous = NORMAL`), the
/// outbox survives a killed process, not a power cut.
fn write_file(dir: &Path, prefix: &str, n: u64, text: &str) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    match unnamed::write_file(dir, prefix, n, text) {
        Err(e) if unnamed::unsupported(&e) => {}
        written => return written,
    }
    write_named(dir, prefix, n, text)
}

/// Link the written file under the first free `<prefix>-<seq>.txt`, `seq`
/// from `n + 1`, through `link(name)`.
fn link_free_name(
    dir: &Path,
    prefix: &str,
    n: u64,
    link: impl Fn(&Path) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    let mut seq = n + 1;
    loop {
        let name = dir.join(format!("{prefix}-{seq}.txt"));
        match link(&name) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => seq += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Where the file system has no unnamed files: write `text` to a hidden
/// temporary file, link it under its name (the link shares the temporary
/// file's mode), remove the temporary name.
fn write_named(dir: &Path, prefix: &str, n: u64, text: &str) -> std::io::Result<PathBuf> {
    let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    private::open_file(&tmp, true, &mut Tightened::default())?.write_all(text.as_bytes())?;
    let result = link_free_name(dir, prefix, n, |name| std::fs::hard_link(&tmp, name));
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The message written into an unnamed file of the directory (`O_TMPFILE`),
/// then linked under its name: one directory entry per message instead of
/// three changes (a temporary name created, the link, the temporary name
/// removed), and nothing left behind by a killed writer.
#[cfg(target_os = "linux")]
mod unnamed {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::{Path, PathBuf};

    use rustix::fs::{AtFlags, CWD, Mode, OFlags, linkat, openat};

    pub(super) fn write_file(
        dir: &Path,
        prefix: &str,
        n: u64,
        text: &str,
    ) -> std::io::Result<PathBuf> {
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let fd = openat(CWD, dir, flags, Mode::RUSR | Mode::WUSR)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(text.as_bytes())?;
        // Linking an unnamed file by its descriptor needs a capability
        // (AT_EMPTY_PATH); through /proc it needs none.
        let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        super::link_free_name(dir, prefix, n, |name| {
            linkat(CWD, by_fd.as_str(), CWD, name, AtFlags::SYMLINK_FOLLOW).map_err(Into::into)
        })
    }

    /// The file system or kernel has no `O_TMPFILE`, or `/proc` is not
    /// mounted: the named temporary file does instead.
    pub(super) fn unsupported(e: &std::io::Error) -> bool {
        use rustix::io::Errno;
        let errno = e.raw_os_error().map(Errno::from_raw_os_error);
        [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL, Errno::NOENT]
            .iter()
            .any(|x| errno == Some(*x))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not write to the outbox {dir}")]
struct OutboxError {
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn publish(&self, topic: Topic, message: &Message) -> Result<String, StoreError> {
        let file = self.write(topic, message).await.map_err(|source| {
            StoreError::transient(
                "outbox.publish",
                OutboxError {
                    dir: self.dir.clone(),
                    source,
                },
            )
        })?;
        self.announce(topic, message, &file);
        Ok(file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default())
    }
}

/// A [`Notifier`] that first commits the steps' deferred writes (see
/// [`SqliteStore::deferring`]): what a message says (an approval waiting
/// behind its links, an order's status) is never taken back by a crash.
pub(crate) struct AfterCommit<N> {
    store: SqliteStore,
    notifier: N,
}

impl<N> AfterCommit<N> {
    pub(crate) fn new(store: SqliteStore, notifier: N) -> Self {
        Self { store, notifier }
    }
}

#[async_trait]
impl<N: Notifier> Notifier for AfterCommit<N> {
    async fn publish(&self, topic: Topic, message: &Message) -> Result<String, StoreError> {
        self.store.flush().await?;
        self.notifier.publish(topic, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::console::{ConsoleBuffer, ConsoleMode};
    use saga_core::ManualClock;

    const ORDER: &str = "01KD0000000000000000000000";

    fn outbox() -> (tempfile::TempDir, OutboxNotifier, ConsoleBuffer) {
        let dir = tempfile::tempdir().unwrap();
        let buffer = ConsoleBuffer::default();
        let notifier = OutboxNotifier::new(
            &dir.path().join("outbox"),
            Arc::new(ManualClock::at_fixed_start()),
            Arc::new(Console::new(ConsoleMode::Memory(buffer.clone()))),
        )
        .unwrap();
        (dir, notifier, buffer)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn each_message_is_one_complete_file_named_by_time_topic_and_order() {
        let (_tmp, outbox, buffer) = outbox();
        let message = Message {
            subject: format!("Approval needed: order {ORDER} (1490.00 EUR)"),
            body: format!(
                "Order {ORDER} needs your approval.\n\nApprove: http://h/approvals/a1?decision=approve\nReject:  http://h/approvals/a1?decision=reject\n"
            ),
        };
        outbox.publish(Topic::Approvals, &message).await.unwrap();
        outbox.publish(Topic::Approvals, &message).await.unwrap();

        let names = files(outbox.dir());
        assert_eq!(names.len(), 2, "{names:?}: no temporary file is left");
        assert!(names[0] < names[1]);
        for name in &names {
            assert!(
                name.contains(&format!("-approvals-{ORDER}-")) && name.ends_with(".txt"),
                "{name}"
            );
        }
        let text = std::fs::read_to_string(outbox.dir().join(&names[0])).unwrap();
        assert!(text.starts_with("Topic: approvals\nSubject: Approval needed"));
        assert!(text.contains("Approve: http://h/approvals/a1?decision=approve"));

        let lines = buffer.lines().join("\n");
        assert!(lines.contains("approve: http://h/approvals/a1?decision=approve"));
        assert!(lines.contains("reject:  http://h/approvals/a1?decision=reject"));
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn both_ways_of_writing_make_the_same_private_files_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Topic: notifications\nSubject: s\n\nbody\n";

        let first = write_file(dir.path(), "T-notifications-X", 0, text).unwrap();
        let second = write_named(dir.path(), "T-notifications-X", 0, text).unwrap();

        assert_eq!(
            files(dir.path()),
            ["T-notifications-X-1.txt", "T-notifications-X-2.txt"],
            "the second found the first name taken"
        );
        for file in [&first, &second] {
            assert_eq!(std::fs::read_to_string(file).unwrap(), text);
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn temporary_files_left_by_a_killed_writer_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".tmp-123-0"), "half a mess").unwrap();
        std::fs::write(
            dir.path().join("20261121T183000.123Z-approvals-1.txt"),
            "kept",
        )
        .unwrap();

        assert_eq!(
            remove_leftovers(dir.path(), std::time::Duration::from_secs(60)),
            0,
            "a fresh one may be another writer's"
        );
        assert_eq!(remove_leftovers(dir.path(), std::time::Duration::ZERO), 1);
        assert_eq!(files(dir.path()), ["20261121T183000.123Z-approvals-1.txt"]);
    }

    #[test]
    fn order_ids_are_found_in_subjects() {
        assert_eq!(
            order_id_in(&format!("Order {ORDER} has shipped")).map(|o| o.to_string()),
            Some(ORDER.to_owned())
        );
        assert!(order_id_in("Compensation failed for order x").is_none());
    }
}
