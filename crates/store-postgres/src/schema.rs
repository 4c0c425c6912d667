//! The PostgreSQL schema and its migrations.
//!
//! `schema_migrations` records each applied migration (its number and when). Opening a store
//! applies every migration it lacks, each in its own transaction that first takes a
//! transaction-scoped advisory lock ([`MIGRATION_LOCK`]): two nodes starting at the same moment
//! run one after the other, and the second finds the first's work recorded and skips it. The
//! migration transaction runs at `READ COMMITTED`, so each statement after the lock sees what
//! the previous holder committed. Migrations are append-only: a released step is never edited.
//! A database migrated by a newer coffer is refused ([`StoreError::SchemaTooNew`]).
//!
//! Text columns compared or ordered by the trait (account, alias name, grant id, principal) use
//! the `"C"` collation: byte order, as the other backends, whatever the database's locale.

use coffer_store::StoreError;
use postgres::Client;

use crate::error::classify;

/// The advisory lock every migration transaction takes first (an arbitrary constant: ASCII
/// `coffer-m`). Advisory locks are per database.
pub(crate) const MIGRATION_LOCK: i64 = 0x636f_6666_6572_2d6d;

/// Migration `i` (0-based) takes the schema from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: named values, keys, backing-key versions, aliases, grants.
    r#"
    CREATE TABLE meta (
        name  TEXT COLLATE "C" PRIMARY KEY,
        value BYTEA NOT NULL
    );

    -- One row per key. `body` is the KeyRecord (JSON bytes, exactly as digested: not jsonb,
    -- which would re-encode it); the columns beside it are what queries select on. `digest` is
    -- SHA-256 of `body`.
    CREATE TABLE keys (
        key_id  BYTEA PRIMARY KEY CHECK (length(key_id) = 16),
        account TEXT COLLATE "C" NOT NULL,
        due_at  BIGINT,
        body    BYTEA NOT NULL,
        digest  BYTEA NOT NULL
    );
    CREATE INDEX keys_by_account ON keys (account, key_id);
    CREATE INDEX keys_by_due ON keys (due_at) WHERE due_at IS NOT NULL;

    -- Backing-key versions, wrapped by the root key; `seq` orders them oldest first. `digest`
    -- is SHA-256 over key id, version id, wrapped bytes and `meta`.
    CREATE TABLE versions (
        key_id     BYTEA NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        seq        BIGINT NOT NULL,
        version_id BYTEA NOT NULL,
        wrapped    BYTEA NOT NULL,
        meta       BYTEA NOT NULL,
        digest     BYTEA NOT NULL,
        PRIMARY KEY (key_id, seq),
        UNIQUE (key_id, version_id)
    );

    -- Aliases, unique per account. `body` is the AliasRecord (JSON).
    CREATE TABLE aliases (
        account TEXT COLLATE "C" NOT NULL,
        name    TEXT COLLATE "C" NOT NULL,
        target  BYTEA NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        body    BYTEA NOT NULL,
        digest  BYTEA NOT NULL,
        PRIMARY KEY (account, name)
    );
    CREATE INDEX aliases_by_target ON aliases (target);

    -- Grants, unique per key. `body` is the Grant (JSON); `account` and `retiring` serve
    -- ListRetirableGrants.
    CREATE TABLE grants (
        key_id   BYTEA NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        grant_id TEXT COLLATE "C" NOT NULL,
        account  TEXT COLLATE "C" NOT NULL,
        retiring TEXT COLLATE "C",
        body     BYTEA NOT NULL,
        digest   BYTEA NOT NULL,
        PRIMARY KEY (key_id, grant_id)
    );
    CREATE INDEX grants_by_retiring ON grants (account, retiring, grant_id);
    "#,
    // 2: every committed change to a key, its versions, aliases or grants, and to the shared
    // credential set, is announced on channel `coffer_changes` (NOTIFY is delivered at commit,
    // only if the transaction commits): `key:<hex key id>`, `alias:<hex key id>`,
    // `meta:<name>`. Nodes listen and drop what they cached (see `watch.rs`).
    r#"
    CREATE FUNCTION coffer_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'meta' THEN
            PERFORM pg_notify('coffer_changes', 'meta:' || NEW.name);
        ELSIF TG_TABLE_NAME = 'aliases' THEN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('coffer_changes', 'alias:' || encode(OLD.target, 'hex'));
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('coffer_changes', 'alias:' || encode(NEW.target, 'hex'));
            END IF;
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('coffer_changes', 'key:' || encode(OLD.key_id, 'hex'));
        ELSE
            PERFORM pg_notify('coffer_changes', 'key:' || encode(NEW.key_id, 'hex'));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER keys_changed AFTER INSERT OR UPDATE OR DELETE ON keys
        FOR EACH ROW EXECUTE FUNCTION coffer_notify_change();
    CREATE TRIGGER versions_changed AFTER INSERT OR UPDATE OR DELETE ON versions
        FOR EACH ROW EXECUTE FUNCTION coffer_notify_change();
    CREATE TRIGGER aliases_changed AFTER INSERT OR UPDATE OR DELETE ON aliases
        FOR EACH ROW EXECUTE FUNCTION coffer_notify_change();
    CREATE TRIGGER grants_changed AFTER INSERT OR UPDATE OR DELETE ON grants
        FOR EACH ROW EXECUTE FUNCTION coffer_notify_change();
    CREATE TRIGGER credentials_changed AFTER INSERT OR UPDATE ON meta
        FOR EACH ROW WHEN (NEW.name LIKE 'credentials%')
        EXECUTE FUNCTION coffer_notify_change();
    "#,
    // 3: custom key stores. `body` is the CustomKeyStoreRecord (JSON; the PIN only wrapped by
    // the root key). Their connection state is each node's own.
    r#"
    CREATE TABLE custom_key_stores (
        id      TEXT COLLATE "C" PRIMARY KEY,
        account TEXT COLLATE "C" NOT NULL,
        body    BYTEA NOT NULL,
        digest  BYTEA NOT NULL
    );
    CREATE INDEX custom_key_stores_by_account ON custom_key_stores (account, id);
    "#,
];

/// The schema version this build of [`PostgresStore`](crate::PostgresStore) writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database lacks; returns how many this call applied (another
/// node may have applied the rest).
pub(crate) fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let mut applied = 0;
    for (i, step) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if apply(client, version, step)? {
            applied += 1;
        }
    }
    Ok(applied)
}

/// Applies migration `version` unless recorded; refuses a database newer than this build.
fn apply(client: &mut Client, version: i64, step: &str) -> Result<bool, StoreError> {
    let err = |context| move |e| classify(context, e);
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::ReadCommitted)
        .start()
        .map_err(err("starting a migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err("taking the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .map_err(err("creating the migrations table"))?;
    let newest: Option<i64> = tx
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .and_then(|r| r.try_get(0))
        .map_err(err("reading the schema version"))?;
    let newest = newest.unwrap_or(0);
    if newest > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: newest,
            supported: SCHEMA_VERSION,
        });
    }
    let done = tx
        .query_opt(
            "SELECT 1 FROM schema_migrations WHERE version = $1",
            &[&version],
        )
        .map_err(err("reading the schema version"))?
        .is_some();
    if done {
        // Nothing to do: the lock goes with the transaction.
        tx.commit().map_err(err("ending a migration"))?;
        return Ok(false);
    }
    tx.batch_execute(step)
        .map_err(err("running a schema migration"))?;
    tx.execute(
        "INSERT INTO schema_migrations (version) VALUES ($1)",
        &[&version],
    )
    .map_err(err("recording a schema migration"))?;
    tx.commit().map_err(err("committing a schema migration"))?;
    Ok(true)
}
