//! Every table as portable rows, for backups, restores and the move from SQLite to PostgreSQL.
//!
//! A dump reads one consistent snapshot (SQLite's read transaction; PostgreSQL's repeatable
//! read) and writes each table as JSON lines: a header naming the columns (sorted by name, each
//! `int` or `text`, the only types the schema uses), then one array per row in primary-key
//! order (text keys in byte order on both backends). The same data therefore gives the same
//! bytes from either backend, so a table's SHA-256 compares a copy with its source.

use crate::{Backend, Database, StoreError};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row as _, Transaction};

/// Every table, parents before children (foreign keys), with the columns that order its rows.
/// A table the schema has and this list lacks stops a dump: nothing is left out silently.
pub const TABLES: &[(&str, &[&str])] = &[
    // First: the triggers of the tables that follow write it as their rows are restored.
    ("search_feed", &["kind", "item_id"]),
    ("settings", &["key"]),
    ("departments", &["id"]),
    ("users", &["id"]),
    ("sessions", &["id"]),
    ("api_keys", &["key"]),
    ("channels", &["id"]),
    ("memberships", &["channel_id", "user_id"]),
    ("messages", &["id"]),
    ("channel_events", &["channel_id", "seq"]),
    ("ping_recipients", &["message_id", "user_id"]),
    ("reactions", &["message_id", "user_id", "emoji"]),
    ("meetings", &["id"]),
    ("meeting_attendance", &["meeting_id", "participant_sid"]),
    ("minutes", &["meeting_id"]),
    ("minute_items", &["id"]),
    ("tasks", &["id"]),
    ("notifications", &["id"]),
    ("recording_jobs", &["id"]),
    ("recordings", &["id"]),
    ("legal_holds", &["id"]),
    ("blobs", &["sha256"]),
    ("blob_texts", &["sha256"]),
    ("folders", &["id"]),
    ("folder_grants", &["folder_id", "subject_kind", "subject"]),
    ("folder_watchers", &["folder_id", "user_id"]),
    ("file_audit", &["id"]),
    ("files", &["id"]),
    ("file_versions", &["file_id", "version"]),
    ("uploads", &["id"]),
    ("kb_spaces", &["id"]),
    (
        "kb_space_members",
        &["space_id", "subject_kind", "subject_id"],
    ),
    ("kb_articles", &["id"]),
    ("kb_versions", &["article_id", "version"]),
    ("kb_comments", &["id"]),
    ("kb_reads", &["article_id", "user_id", "day"]),
    ("kb_votes", &["article_id", "user_id"]),
    ("rings", &["id"]),
    ("ring_callees", &["ring_id", "user_id"]),
];

/// Parameters per INSERT statement on restore. sqlx binds each SQLite parameter by looking
/// its name up among all of the statement's (quadratic in their number: 8,500 parameters per
/// statement spent 95% of a restore there), so SQLite statements stay small; PostgreSQL's take
/// up to 500 rows.
const SQLITE_INSERT_PARAMS: usize = 256;
const POSTGRES_INSERT_PARAMS: usize = 30_000;
const MAX_INSERT_ROWS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Int,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// The first line of a table's dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableHeader {
    pub table: String,
    pub columns: Vec<Column>,
}

/// One row: `null`, an integer or a string per column, in the header's order.
pub type Row = Vec<Value>;

/// A table's dump as it goes: the canonical bytes, counted and hashed.
#[derive(Debug)]
pub struct TableDigest {
    hasher: Sha256,
    pub rows: u64,
    pub bytes: u64,
}

impl TableDigest {
    pub fn new() -> TableDigest {
        TableDigest {
            hasher: Sha256::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Take one line (the header or a row) and return its bytes, newline included.
    pub fn line(&mut self, value: &impl Serialize, is_row: bool) -> Vec<u8> {
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        self.hasher.update(&line);
        self.bytes += line.len() as u64;
        if is_row {
            self.rows += 1;
        }
        line
    }

    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl Default for TableDigest {
    fn default() -> Self {
        TableDigest::new()
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a dump's rows go, a batch at a time.
pub(crate) trait RowSink {
    async fn begin_table(&mut self, header: &TableHeader) -> Result<(), StoreError>;
    async fn rows(&mut self, header: &TableHeader, rows: &[Row]) -> Result<(), StoreError>;
}

/// A read-only view of the whole database as of one instant.
pub struct Snapshot {
    tx: Transaction<'static, Any>,
    backend: Backend,
}

impl Database {
    /// The schema version: the newest migration applied; 0 for a database without tables.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        if !self.has_migrations_table().await? {
            return Ok(0);
        }
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// The newest migration this build knows.
    pub fn latest_schema_version(&self) -> i64 {
        crate::db::latest_version(self.backend())
    }

    /// Begin a snapshot. Writers carry on meanwhile; the snapshot does not see them.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Snapshot {
            tx,
            backend: self.backend(),
        })
    }

    async fn has_migrations_table(&self) -> Result<bool, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

    /// The `TABLES` this database's schema has, in order.
    pub async fn tables(&self) -> Result<Vec<&'static str>, StoreError> {
        let names = table_names(&self.pool, self.backend()).await?;
        Ok(present(&names)?.into_iter().map(|(t, _)| t).collect())
    }

    /// Whether every table is empty (a fresh database the server never started on, or one
    /// with no tables at all).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        for table in self.tables().await? {
            let found: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} LIMIT 1"))
                .fetch_optional(&self.pool)
                .await?;
            if found.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The columns of `table` as this database has them, sorted by name.
    pub async fn columns(&self, table: &str) -> Result<Vec<Column>, StoreError> {
        columns(&self.pool, self.backend(), table).await
    }

    /// Insert a dump's rows into this (empty) database, table by table in one transaction, and
    /// move PostgreSQL's id sequences past the ids inserted.
    pub fn restorer(&self) -> Restorer<'_> {
        Restorer {
            db: self,
            tx: None,
            target: None,
            clear: false,
        }
    }
}

/// Rows going into a database: one transaction for the whole restore.
pub struct Restorer<'a> {
    db: &'a Database,
    tx: Option<Transaction<'static, Any>>,
    /// The target's own columns of the table being written, and the SQL prefix.
    target: Option<(String, Vec<Column>)>,
    /// Delete every row first, in the same transaction.
    clear: bool,
}

impl Restorer<'_> {
    /// Delete every row of every table (children first) before the first insert, in the
    /// restore's own transaction: if the restore fails, they are still there.
    pub fn clear_first(&mut self) {
        self.clear = true;
    }

    async fn tx(&mut self) -> Result<&mut Transaction<'static, Any>, StoreError> {
        if self.tx.is_none() {
            let mut tx = self.db.begin_write().await?;
            if self.clear {
                let tables = present(&table_names(&mut *tx, self.db.backend()).await?)?;
                for (table, _) in tables.iter().rev() {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            self.tx = Some(tx);
        }
        Ok(self.tx.as_mut().expect("just begun"))
    }

    /// Commit everything, then set PostgreSQL's identity sequences past the largest id.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        let backend = self.db.backend();
        let tx = self.tx().await?;
        if backend == Backend::Postgres {
            let identities: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND is_identity = 'YES' AND column_name = 'id'",
            )
            .fetch_all(&mut **tx)
            .await?;
            for table in identities {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ))
                .execute(&mut **tx)
                .await?;
            }
        }
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl RowSink for Restorer<'_> {
    async fn begin_table(&mut self, header: &TableHeader) -> Result<(), StoreError> {
        let backend = self.db.backend();
        let table = header.table.clone();
        let tx = self.tx().await?;
        let theirs = columns(&mut **tx, backend, &table).await?;
        for column in &header.columns {
            if !theirs.iter().any(|c| c.name == column.name) {
                return Err(StoreError::Invalid(format!(
                    "table {table} has no column {} here",
                    column.name
                )));
            }
        }
        let names: Vec<&str> = header.columns.iter().map(|c| c.name.as_str()).collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES ", names.join(", "));
        self.target = Some((sql, theirs));
        Ok(())
    }

    async fn rows(&mut self, header: &TableHeader, rows: &[Row]) -> Result<(), StoreError> {
        let (prefix, theirs) = self
            .target
            .clone()
            .ok_or_else(|| StoreError::Invalid("rows before their table's header".into()))?;
        let kinds: Vec<ColumnKind> = header
            .columns
            .iter()
            .map(|c| {
                theirs
                    .iter()
                    .find(|t| t.name == c.name)
                    .map_or(c.kind, |t| t.kind)
            })
            .collect();
        let width = kinds.len().max(1);
        let params = match self.db.backend() {
            Backend::Sqlite => SQLITE_INSERT_PARAMS,
            Backend::Postgres => POSTGRES_INSERT_PARAMS,
        };
        let per_statement = (params / width).clamp(1, MAX_INSERT_ROWS);
        let tx = self.tx().await?;
        for batch in rows.chunks(per_statement) {
            let mut sql = prefix.clone();
            let mut n = 0;
            for (i, row) in batch.iter().enumerate() {
                if row.len() != width {
                    return Err(StoreError::Invalid(format!(
                        "a row of {} has {} values for {width} columns",
                        header.table,
                        row.len()
                    )));
                }
                sql.push_str(if i == 0 { "(" } else { ", (" });
                for j in 0..width {
                    n += 1;
                    sql.push_str(&format!("{}${n}", if j == 0 { "" } else { ", " }));
                }
                sql.push(')');
            }
            let mut query = sqlx::query(&sql);
            for row in batch {
                for (value, kind) in row.iter().zip(&kinds) {
                    query = bind(query, value, *kind, &header.table)?;
                }
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(
    query: AnyQuery<'q>,
    value: &Value,
    kind: ColumnKind,
    table: &str,
) -> Result<AnyQuery<'q>, StoreError> {
    let wrong = || StoreError::Invalid(format!("a value of {table} is not {kind:?}: {value}"));
    Ok(match (kind, value) {
        (ColumnKind::Int, Value::Null) => query.bind(None::<i64>),
        (ColumnKind::Text, Value::Null) => query.bind(None::<String>),
        (ColumnKind::Int, Value::Number(n)) => query.bind(n.as_i64().ok_or_else(wrong)?),
        (ColumnKind::Text, Value::String(s)) => query.bind(s.clone()),
        _ => return Err(wrong()),
    })
}

/// The columns of `table`, sorted by name, with their kind.
async fn columns<'c>(
    conn: impl sqlx::Executor<'c, Database = Any>,
    backend: Backend,
    table: &str,
) -> Result<Vec<Column>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1)",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let found: Vec<(String, String)> = sqlx::query_as(sql).bind(table).fetch_all(conn).await?;
    if found.is_empty() {
        return Err(StoreError::Invalid(format!("there is no table {table}")));
    }
    let mut columns: Vec<Column> = found
        .into_iter()
        .map(|(name, ty)| Column {
            name,
            kind: if ty.to_ascii_lowercase().contains("int") {
                ColumnKind::Int
            } else {
                ColumnKind::Text
            },
        })
        .collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(columns)
}

/// The tables the database has (migrations' bookkeeping aside).
async fn table_names<'c>(
    executor: impl sqlx::Executor<'c, Database = Any>,
    backend: Backend,
) -> Result<Vec<String>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations'"
        }
    };
    Ok(sqlx::query_scalar(sql).fetch_all(executor).await?)
}

/// The entries of `TABLES` that `names` has, in order; a name `TABLES` lacks is an error.
fn present(names: &[String]) -> Result<Vec<(&'static str, &'static [&'static str])>, StoreError> {
    if let Some(name) = names.iter().find(|n| !TABLES.iter().any(|(t, _)| t == n)) {
        return Err(StoreError::Invalid(format!(
            "table {name} is in the database but not in the dump's list"
        )));
    }
    Ok(TABLES
        .iter()
        .filter(|(t, _)| names.iter().any(|n| n == t))
        .copied()
        .collect())
}

impl Snapshot {
    /// Refuse a schema with a table this build does not dump.
    pub async fn check_tables(&mut self) -> Result<(), StoreError> {
        self.tables().await.map(|_| ())
    }

    /// The tables this snapshot's schema has, in `TABLES` order (an older schema lacks the
    /// newer ones); a table this build does not dump is an error.
    pub async fn tables(
        &mut self,
    ) -> Result<Vec<(&'static str, &'static [&'static str])>, StoreError> {
        present(&table_names(&mut *self.tx, self.backend).await?)
    }

    /// The schema version (newest migration applied), read inside the snapshot: a backup
    /// needs no second connection.
    pub async fn schema_version(&mut self) -> Result<i64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// How many rows each table holds.
    pub async fn counts(&mut self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut counts = Vec::new();
        for (table, _) in TABLES {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *self.tx)
                .await?;
            counts.push((*table, u64::try_from(n).unwrap_or(0)));
        }
        Ok(counts)
    }

    /// Stream one table's rows into `sink`, a batch at a time, and return its digest.
    pub(crate) async fn dump_table(
        &mut self,
        table: &str,
        order: &[&str],
        sink: &mut impl RowSink,
    ) -> Result<(TableHeader, TableDigest), StoreError> {
        let columns = columns(&mut *self.tx, self.backend, table).await?;
        let header = TableHeader {
            table: table.to_string(),
            columns,
        };
        let mut digest = TableDigest::new();
        digest.line(&header, false);
        sink.begin_table(&header).await?;
        let names: Vec<&str> = header.columns.iter().map(|c| c.name.as_str()).collect();
        let text_order = |c: &&str| {
            header
                .columns
                .iter()
                .any(|col| col.name == *c && col.kind == ColumnKind::Text)
        };
        let order: Vec<String> = order
            .iter()
            .map(|c| match self.backend {
                Backend::Postgres if text_order(c) => format!("{c} COLLATE \"C\""),
                _ => c.to_string(),
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            names.join(", "),
            order.join(", ")
        );
        let mut batch: Vec<Row> = Vec::with_capacity(1000);
        {
            let mut stream = sqlx::query(&sql).fetch(&mut *self.tx);
            while let Some(row) = stream.try_next().await? {
                let mut values = Vec::with_capacity(header.columns.len());
                for (i, column) in header.columns.iter().enumerate() {
                    values.push(match column.kind {
                        ColumnKind::Int => row
                            .try_get::<Option<i64>, _>(i)?
                            .map_or(Value::Null, Value::from),
                        ColumnKind::Text => row
                            .try_get::<Option<String>, _>(i)?
                            .map_or(Value::Null, Value::from),
                    });
                }
                digest.line(&values, true);
                batch.push(values);
                if batch.len() == 1000 {
                    sink.rows(&header, &batch).await?;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            sink.rows(&header, &batch).await?;
        }
        Ok((header, digest))
    }

    /// The object-store prefixes the snapshot's rows point at (each recording's chunks):
    /// objects outside them were written after the snapshot, or belong to nothing.
    pub async fn object_prefixes(&mut self) -> Result<Vec<String>, StoreError> {
        let prefixes: Vec<String> =
            sqlx::query_scalar("SELECT object_prefix FROM recordings ORDER BY id")
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(prefixes
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| format!("{}/", p.trim_end_matches('/')))
            .collect())
    }

    /// End the snapshot (it only read).
    pub async fn close(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// A sink that keeps nothing: the digest is all a comparison needs.
pub(crate) struct Discard;

impl RowSink for Discard {
    async fn begin_table(&mut self, _: &TableHeader) -> Result<(), StoreError> {
        Ok(())
    }
    async fn rows(&mut self, _: &TableHeader, _: &[Row]) -> Result<(), StoreError> {
        Ok(())
    }
}
