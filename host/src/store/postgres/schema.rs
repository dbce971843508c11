//! The PostgreSQL schema of the event store and its migrations.
//!
//! Every table lives in one PostgreSQL schema (default `theater`, see
//! [`super::PostgresOptions::schema`]); `schema_version` records which migrations ran. A host
//! applies the missing ones at start under an advisory lock (two hosts starting at once do not
//! race) and refuses a database whose version is newer than it knows.
//!
//! Every row written for a tree carries the tree's root id and the lease epoch its writer held.
//! Statement triggers (`theater_fence`) refuse a statement when any of its rows carries an epoch
//! that is not the tree's current one, after locking the tree's lease row `FOR SHARE`: a
//! take-over (which updates that row) waits for a write in flight to commit, and every write after
//! the take-over sees the new epoch. So a host that lost its lease cannot write into the tree,
//! whatever the host's own code does.

/// The newest schema version this host knows.
pub const VERSION: i32 = 1;

/// SQLSTATE raised by the fencing triggers.
pub const FENCED: &str = "TH001";

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: actors, chains, states, statuses, leases, fencing.
    r#"
CREATE TABLE leases (
    root TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    ended BOOLEAN NOT NULL DEFAULT false,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE actors (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    parent TEXT,
    name TEXT NOT NULL,
    manifest_path TEXT,
    manifest_text TEXT,
    manifest_dir TEXT,
    start_mode TEXT NOT NULL,
    start_bytes BYTEA,
    epoch BIGINT NOT NULL
);
CREATE INDEX actors_root ON actors (root, seq);
CREATE TABLE events (
    actor TEXT NOT NULL,
    idx BIGINT NOT NULL,
    seq BIGSERIAL NOT NULL,
    root TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    parent_hash BYTEA,
    event_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    ts BIGINT NOT NULL,
    description TEXT,
    PRIMARY KEY (actor, idx)
);
CREATE TABLE states (
    actor TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    state BYTEA
);
CREATE TABLE statuses (
    actor TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    status TEXT NOT NULL,
    restarts INTEGER NOT NULL
);
CREATE FUNCTION theater_fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
DECLARE
    bad RECORD;
BEGIN
    -- Lock the trees' lease rows: a take-over waits for this transaction, or this waits for it.
    PERFORM 1 FROM leases WHERE root IN (SELECT DISTINCT root FROM new_rows) FOR SHARE;
    SELECT n.root, n.epoch, l.epoch AS current, l.owner INTO bad
      FROM (SELECT DISTINCT root, epoch FROM new_rows) n
      LEFT JOIN leases l ON l.root = n.root
     WHERE l.epoch IS DISTINCT FROM n.epoch
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'fenced: tree % is at epoch % (owner %), this write carries epoch %',
            bad.root, coalesce(bad.current::text, 'none'), coalesce(bad.owner, 'none'), bad.epoch
            USING ERRCODE = 'TH001', DETAIL = bad.root, HINT = bad.epoch::text;
    END IF;
    RETURN NULL;
END
$fence$;
CREATE TRIGGER actors_fence_insert AFTER INSERT ON actors
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
CREATE TRIGGER events_fence_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
CREATE TRIGGER states_fence_insert AFTER INSERT ON states
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
CREATE TRIGGER states_fence_update AFTER UPDATE ON states
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
CREATE TRIGGER statuses_fence_insert AFTER INSERT ON statuses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
CREATE TRIGGER statuses_fence_update AFTER UPDATE ON statuses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION theater_fence();
-- Chains are append-only: a stored event is never changed or removed by a host.
CREATE FUNCTION theater_append_only() RETURNS trigger LANGUAGE plpgsql AS $ao$
BEGIN
    RAISE EXCEPTION 'events are append-only: event % of actor % cannot be changed', OLD.idx, OLD.actor;
END
$ao$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION theater_append_only();
"#,
];

/// A schema name: a plain lower-case SQL identifier (it is spliced into SQL text).
pub fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

/// Creates the schema if needed and applies the missing migrations, in one transaction under an
/// advisory lock. Returns the version found before.
pub async fn migrate(
    client: &mut tokio_postgres::Client,
    schema: &str,
) -> Result<i32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // One lock id per schema name, so unrelated schemas migrate independently.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('theater-supervisor schema ' || $1))",
        &[&schema],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         SET LOCAL search_path TO {schema};"
    ))
    .await?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(n as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// The version recorded in `schema`, or `None` when it has no event store.
pub async fn version(
    client: &tokio_postgres::Client,
    schema: &str,
) -> Result<Option<i32>, tokio_postgres::Error> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = $1 AND table_name = 'schema_version')",
            &[&schema],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let v: i32 = client
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_version"),
            &[],
        )
        .await?
        .get(0);
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::valid_schema_name;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["theater", "_x", "t_1_2"] {
            assert!(valid_schema_name(ok), "{ok}");
        }
        for bad in ["", "1x", "Theater", "a-b", "a;drop", "a b", &"x".repeat(64)] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }
}
