//! The append-only executions: paging, atomic saves, the layout migration.

use rusqlite::Connection;

use super::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("saga.db")).unwrap();
    (dir, store)
}

/// A database file written by `setup` (an older layout), not opened yet.
fn old_database(setup: impl FnOnce(&Connection)) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    setup(&Connection::open(&path).unwrap());
    (dir, path)
}

fn event(id: u64) -> EventRow {
    EventRow {
        id,
        doc: format!("{{\"id\":{id}}}"),
    }
}

fn ids(rows: &[EventRow]) -> Vec<u64> {
    rows.iter().map(|r| r.id).collect()
}

async fn ten_events(store: &SqliteStore) {
    // In three saves, as an execution appends them.
    for range in [1..=4, 5..=5, 6..=10] {
        store
            .append_execution("e1", "RUNNING", "{}".into(), range.map(event).collect(), 1)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_history_pages_forward_and_backward_from_an_event() {
    let (_dir, store) = store();
    ten_events(&store).await;

    let page = |from, limit, reverse| store.events("e1", from, limit, reverse);
    assert_eq!(ids(&page(None, 3, false).await.unwrap()), [1, 2, 3]);
    assert_eq!(ids(&page(Some(4), 3, false).await.unwrap()), [4, 5, 6]);
    assert_eq!(
        ids(&page(Some(9), 3, false).await.unwrap()),
        [9, 10],
        "the last page is short"
    );
    assert!(page(Some(11), 3, false).await.unwrap().is_empty());
    assert_eq!(ids(&page(None, 3, true).await.unwrap()), [10, 9, 8]);
    assert_eq!(ids(&page(Some(7), 3, true).await.unwrap()), [7, 6, 5]);
    assert_eq!(ids(&page(Some(2), 3, true).await.unwrap()), [2, 1]);
    assert_eq!(
        store.all_events("e1").await.unwrap(),
        (1..=10).map(event).collect::<Vec<_>>(),
        "documents come back as written"
    );
    assert!(
        store
            .events("unknown", None, 3, false)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_save_is_all_or_nothing_and_events_are_written_once() {
    let (_dir, store) = store();
    ten_events(&store).await;

    let again = store
        .append_execution(
            "e1",
            "SUCCEEDED",
            "{\"late\":true}".into(),
            vec![event(10), event(11)],
            2,
        )
        .await;

    assert!(again.is_err(), "event 10 is stored already");
    assert_eq!(
        ids(&store.all_events("e1").await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    let row = store.execution("e1").await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.state.as_str()),
        ("RUNNING", "{}"),
        "the head is unchanged"
    );
}

#[tokio::test]
async fn concurrent_saves_of_many_executions_are_all_committed() {
    let (_dir, store) = store();
    let saves = (0..64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let name = format!("e{i}");
            for id in 1..=5 {
                store
                    .append_execution(
                        &name,
                        "RUNNING",
                        format!("{{\"at\":{id}}}"),
                        vec![event(id)],
                        1,
                    )
                    .await
                    .unwrap();
            }
        })
    });
    for s in saves.collect::<Vec<_>>() {
        s.await.unwrap();
    }
    for i in 0..64 {
        let name = format!("e{i}");
        assert_eq!(
            ids(&store.all_events(&name).await.unwrap()),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            store.execution(&name).await.unwrap().unwrap().state,
            "{\"at\":5}"
        );
    }
}

/// A database as the previous layout (0) left it: the whole snapshot,
/// history included, in `state`.
fn layout_0(c: &Connection) {
    c.execute_batch(
        "CREATE TABLE executions (name TEXT PRIMARY KEY, status TEXT NOT NULL, state TEXT NOT NULL,
             created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL);
         INSERT INTO executions VALUES ('old', 'RUNNING',
             '{\"version\":1,\"status\":\"RUNNING\",\"history\":[{\"id\":1,\"previousEventId\":0,\"type\":\"ExecutionStarted\"},{\"id\":2,\"previousEventId\":1,\"type\":\"PassStateEntered\"}],\"nextEventId\":3}',
             1, 2);
         INSERT INTO executions VALUES ('fresh', 'RUNNING', '{\"notStarted\":true,\"input\":{}}', 1, 1);",
    )
    .unwrap();
}

#[tokio::test]
async fn an_older_layout_is_migrated_on_open() {
    let (_dir, path) = old_database(layout_0);

    let store = SqliteStore::open(&path).unwrap();

    let events = store.all_events("old").await.unwrap();
    assert_eq!(ids(&events), [1, 2]);
    let first: serde_json::Value = serde_json::from_str(&events[0].doc).unwrap();
    assert_eq!(first["type"], "ExecutionStarted");
    let head: serde_json::Value =
        serde_json::from_str(&store.execution("old").await.unwrap().unwrap().state).unwrap();
    assert_eq!(
        head,
        serde_json::json!({"version": 1, "status": "RUNNING", "nextEventId": 3})
    );
    assert_eq!(
        store.execution("fresh").await.unwrap().unwrap().state,
        "{\"notStarted\":true,\"input\":{}}",
        "a row without a history is left alone"
    );
    drop(store);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::LAYOUT_VERSION);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        ids(&reopened.all_events("old").await.unwrap()),
        [1, 2],
        "migrated once"
    );
}

#[test]
fn a_newer_layout_is_refused_with_a_clear_message() {
    let (_dir, path) = old_database(|c| c.pragma_update(None, "user_version", 7).unwrap());

    let err = SqliteStore::open(&path).unwrap_err();

    assert!(
        matches!(err, crate::OpenError::Newer { found: 7, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("has layout 7, written by a newer saga-local"),
        "{err}"
    );
}

fn head(name: &str) -> ExecutionRow {
    ExecutionRow {
        name: name.into(),
        status: "RUNNING".into(),
        state: "{}".into(),
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

fn of(machine: &str) -> ExecutionMeta {
    ExecutionMeta {
        machine: machine.into(),
        test_case: Some("HappyPath".into()),
        redrive: None,
    }
}

#[tokio::test]
async fn the_api_machines_executions_are_apart_from_the_sagas() {
    let (_dir, store) = store();
    store.insert_execution(head("order-1")).await.unwrap();
    assert!(
        store
            .insert_machine_execution(head("arn:a:x-1"), of("arn:a"))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_machine_execution(head("arn:b:y-1"), of("arn:b"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_machine_execution(head("arn:a:x-1"), of("arn:a"))
            .await
            .unwrap(),
        "a name is one execution"
    );

    let saga: Vec<_> = store.executions_with_status("RUNNING").await.unwrap();
    assert_eq!(
        saga.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["order-1"]
    );
    let api = store
        .machine_executions_with_status("RUNNING")
        .await
        .unwrap();
    assert_eq!(api.len(), 2);
    assert_eq!(api[0].1, of("arn:a"));
    let page = |m: &'static str| store.execution_page(m, (None, None), None, 10);
    let names = |rows: Vec<ExecutionSummary>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(page("").await.unwrap()), ["order-1"]);
    assert_eq!(names(page("arn:b").await.unwrap()), ["arn:b:y-1"]);
    let (_, meta) = store.execution_with_meta("order-1").await.unwrap().unwrap();
    assert_eq!(
        meta,
        ExecutionMeta::default(),
        "the saga's row has no machine"
    );
}

#[tokio::test]
async fn a_redrive_is_stored_once_from_the_status_it_was_read_with() {
    let (_dir, store) = store();
    store
        .append_execution(
            "e1",
            "FAILED",
            "{\"failed\":true}".into(),
            vec![event(1), event(2)],
            1,
        )
        .await
        .unwrap();

    let redrive = |from: &'static str| {
        store.redrive_execution(
            "e1",
            from,
            "{\"again\":true}".into(),
            vec![event(3), event(4)],
            "{\"count\":1}".into(),
            5,
        )
    };
    assert!(!redrive("ABORTED").await.unwrap(), "not the status it has");
    assert_eq!(
        ids(&store.all_events("e1").await.unwrap()),
        [1, 2],
        "nothing changed"
    );
    assert!(redrive("FAILED").await.unwrap());
    assert!(
        !redrive("FAILED").await.unwrap(),
        "a second redrive of the same read loses"
    );

    assert_eq!(ids(&store.all_events("e1").await.unwrap()), [1, 2, 3, 4]);
    let (row, meta) = store.execution_with_meta("e1").await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.state.as_str()),
        ("RUNNING", "{\"again\":true}")
    );
    assert_eq!(meta.redrive.as_deref(), Some("{\"count\":1}"));
    let redriven = |r| store.execution_page("", (None, Some(r)), None, 10);
    assert_eq!(redriven(true).await.unwrap().len(), 1);
    assert!(redriven(false).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_layout_1_database_gains_the_api_columns() {
    let (_dir, path) = old_database(|c| {
        c.execute_batch(
            "CREATE TABLE executions (name TEXT PRIMARY KEY, status TEXT NOT NULL, state TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL);
             INSERT INTO executions VALUES ('order-1', 'FAILED', '{}', 1, 2);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    });

    let store = SqliteStore::open(&path).unwrap();

    let (row, meta) = store.execution_with_meta("order-1").await.unwrap().unwrap();
    assert_eq!(row.status, "FAILED");
    assert_eq!(
        meta,
        ExecutionMeta::default(),
        "an older row is the saga's, never redriven"
    );
    drop(store);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::LAYOUT_VERSION);
    SqliteStore::open(&path).expect("opened again: migrated once");
}

/// A layout-2 database: its events in the `WITHOUT ROWID` table, the
/// executions' rows as layout 2 wrote them.
fn layout_2(c: &Connection) {
    c.execute_batch(
        "CREATE TABLE executions (name TEXT PRIMARY KEY, status TEXT NOT NULL, state TEXT NOT NULL,
             created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
             machine TEXT NOT NULL DEFAULT '', test_case TEXT, redrive TEXT);
         CREATE TABLE execution_events (execution TEXT NOT NULL, event_id INTEGER NOT NULL,
             doc TEXT NOT NULL, PRIMARY KEY (execution, event_id)) WITHOUT ROWID;
         INSERT INTO executions VALUES ('b', 'RUNNING', '{\"next\":4}', 1, 2, '', NULL, NULL);
         INSERT INTO executions VALUES ('a', 'SUCCEEDED', '{}', 1, 2, '', NULL, NULL);
         INSERT INTO execution_events VALUES ('b', 2, '{\"id\":2}'), ('a', 1, '{\"id\":1}'),
             ('b', 1, '{\"id\":1}'), ('b', 3, '{\"id\":3}');
         PRAGMA user_version = 2;",
    )
    .unwrap();
}

#[tokio::test]
async fn a_layout_2_database_keeps_its_events_in_the_layout_3_table() {
    let (_dir, path) = old_database(layout_2);

    let store = SqliteStore::open(&path).unwrap();

    assert_eq!(ids(&store.all_events("b").await.unwrap()), [1, 2, 3]);
    assert_eq!(ids(&store.all_events("a").await.unwrap()), [1]);
    assert_eq!(
        ids(&store.events("b", None, 2, true).await.unwrap()),
        [3, 2],
        "paged backwards as before"
    );
    let again = store
        .append_execution("b", "RUNNING", "{}".into(), vec![event(4), event(3)], 3)
        .await;
    assert!(again.is_err(), "event 3 is stored already");
    assert_eq!(
        store.execution("b").await.unwrap().unwrap().state,
        "{\"next\":4}",
        "a refused save changes nothing"
    );
    store
        .append_execution("b", "SUCCEEDED", "{}".into(), vec![event(4)], 3)
        .await
        .unwrap();
    assert_eq!(ids(&store.all_events("b").await.unwrap()), [1, 2, 3, 4]);
    drop(store);
    let c = Connection::open(&path).unwrap();
    let (version, seq): (i64, bool) = (
        c.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap(),
        c.query_row(
            "SELECT count(*) FROM pragma_table_info('execution_events') WHERE name = 'seq'",
            [],
            |r| r.get(0),
        )
        .unwrap(),
    );
    assert_eq!((version, seq), (3, true));
    drop(c);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        ids(&reopened.all_events("b").await.unwrap()),
        [1, 2, 3, 4],
        "migrated once"
    );
}
