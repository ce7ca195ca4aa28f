//! The PostgreSQL schema and its history. Entries are only ever appended: a database
//! records in `keyward_schema` how many it has applied, and `PostgresStore::connect`
//! applies the rest in order, all under one transaction-scoped advisory lock, so that
//! several nodes starting at once migrate exactly once.
//!
//! The tables mirror SQLite's: each record is a JSON document (`doc`) beside the columns
//! that are looked up, ordered or made unique. Names that IAM compares without regard to
//! case are unique on `lower(name)`. Every text column sorts by bytes (`COLLATE "C"`), as
//! SQLite does, so that listings come in the same order from either backend.

/// The advisory lock every migration runs under (an arbitrary constant: "keyward" in
/// ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x006b_6579_7761_7264;

/// The session-level advisory lock held by the one node that runs the background jobs
/// ("keywardJ").
pub(crate) const JOBS_LOCK: i64 = 0x6b65_7977_6172_644a;

/// Each entry moves the schema one version forward.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (name TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    due_at BIGINT,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE INDEX keys_by_scope ON keys (account, region, id);
CREATE INDEX keys_by_due ON keys (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE key_material (
    key_id TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    wrapped BYTEA NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE aliases (
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    wrapped_secret BYTEA NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    principal_arn TEXT COLLATE "C" NOT NULL,
    created BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    user_name TEXT COLLATE "C"
);
CREATE INDEX access_keys_by_owner ON access_keys (account, lower(user_name), created, access_key_id);
CREATE TABLE secrets (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    due_at BIGINT,
    created BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX secrets_by_name ON secrets (account, region, name);
CREATE INDEX secrets_by_due ON secrets (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX secrets_by_created ON secrets (account, region, created, id);
CREATE TABLE secret_values (
    secret_id TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version_id TEXT COLLATE "C" NOT NULL,
    encrypted_data_key BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    is_binary BOOLEAN NOT NULL,
    PRIMARY KEY (secret_id, version_id)
);
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    event_time BIGINT NOT NULL,
    event_source TEXT COLLATE "C" NOT NULL,
    event_name TEXT COLLATE "C" NOT NULL,
    read_only BOOLEAN NOT NULL,
    username TEXT COLLATE "C",
    access_key_id TEXT COLLATE "C",
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    record TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_by_scope ON audit_events (account, region, seq);
CREATE INDEX audit_by_time ON audit_events (event_time);
CREATE INDEX audit_by_name ON audit_events (account, region, event_name, seq);
CREATE INDEX audit_by_username ON audit_events (account, region, username, seq);
CREATE INDEX audit_by_source ON audit_events (account, region, event_source, seq);
CREATE INDEX audit_by_access_key ON audit_events (account, region, access_key_id, seq);
CREATE TABLE audit_resources (
    seq BIGINT NOT NULL REFERENCES audit_events (seq) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX audit_resources_by_name ON audit_resources (resource_name, seq);
CREATE INDEX audit_resources_by_type ON audit_resources (resource_type, seq);
CREATE TABLE iam_principals (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX iam_principals_by_name ON iam_principals (account, kind, lower(name));
CREATE TABLE grants (
    key_id TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    grant_id TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    retiring_principal TEXT COLLATE "C",
    created BIGINT NOT NULL,
    doc TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (key_id, grant_id)
);
CREATE INDEX grants_by_key ON grants (key_id, created, grant_id);
CREATE INDEX grants_by_retiring_principal ON grants (account, retiring_principal, created, grant_id)
    WHERE retiring_principal IS NOT NULL;
"#,
    // Lambda functions: the configuration as a document, the code zip beside it.
    r#"
CREATE TABLE functions (
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    revision_id TEXT COLLATE "C" NOT NULL,
    doc TEXT COLLATE "C" NOT NULL,
    code BYTEA NOT NULL,
    PRIMARY KEY (account, region, name)
);
"#,
];
