//! The SQLite schema and its history. Entries are only ever appended: a database records
//! in `PRAGMA user_version` how many it has applied, and `SqliteStore::open` applies the
//! rest in order, each in its own transaction.

/// Each entry moves the schema one version forward; `PRAGMA user_version` records where a
/// database stands.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    revision INTEGER NOT NULL,
    due_at INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX keys_by_scope ON keys (account, region, id);
CREATE INDEX keys_by_due ON keys (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE key_material (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    target TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    wrapped_secret BLOB NOT NULL,
    account TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    created INTEGER NOT NULL,
    active INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    due_at INTEGER,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX secrets_by_name ON secrets (account, region, name);
CREATE INDEX secrets_by_due ON secrets (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE secret_values (
    secret_id TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    encrypted_data_key BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    binary INTEGER NOT NULL,
    PRIMARY KEY (secret_id, version_id)
);
"#,
    r#"
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    event_time INTEGER NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    read_only INTEGER NOT NULL,
    username TEXT,
    access_key_id TEXT,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX audit_by_scope ON audit_events (account, region, seq);
CREATE INDEX audit_by_time ON audit_events (event_time);
CREATE INDEX audit_by_name ON audit_events (account, region, event_name, seq);
CREATE INDEX audit_by_username ON audit_events (account, region, username, seq);
CREATE INDEX audit_by_source ON audit_events (account, region, event_source, seq);
CREATE INDEX audit_by_access_key ON audit_events (account, region, access_key_id, seq);
CREATE TABLE audit_resources (
    seq INTEGER NOT NULL REFERENCES audit_events (seq) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL
);
CREATE INDEX audit_resources_by_event ON audit_resources (seq);
CREATE INDEX audit_resources_by_name ON audit_resources (resource_name, seq);
CREATE INDEX audit_resources_by_type ON audit_resources (resource_type, seq);
"#,
    r#"
ALTER TABLE access_keys ADD COLUMN user_name TEXT COLLATE NOCASE;
CREATE INDEX access_keys_by_owner ON access_keys (account, user_name, created, access_key_id);
CREATE TABLE iam_principals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    revision INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_principals_by_name ON iam_principals (account, kind, name);
CREATE TABLE grants (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    grant_id TEXT NOT NULL,
    account TEXT NOT NULL,
    retiring_principal TEXT,
    created INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (key_id, grant_id)
);
CREATE INDEX grants_by_key ON grants (key_id, created, grant_id);
CREATE INDEX grants_by_retiring_principal ON grants (account, retiring_principal, created, grant_id)
    WHERE retiring_principal IS NOT NULL;
"#,
    // ListSecrets pages in creation order through an index, not by reading every secret.
    r#"
ALTER TABLE secrets ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
UPDATE secrets SET created = json_extract(doc, '$.created');
CREATE INDEX secrets_by_created ON secrets (account, region, created, id);
"#,
    // Lambda functions: the configuration as a document, the code zip beside it.
    r#"
CREATE TABLE functions (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    code BLOB NOT NULL,
    PRIMARY KEY (account, region, name)
);
"#,
];
