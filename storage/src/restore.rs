//! Restores and migrations: a verified backup's rows and objects back into a deployment (an
//! older backup at its own schema, then upgraded), and one deployment copied straight into
//! another, both sides then compared.

use crate::backup::{read_manifest, under, verify_backup, BackupError, Manifest, TableEntry};
use crate::crypt::BackupKey;
use crate::dump::{hex, Discard, Row, RowSink, TableHeader, TABLES};
use crate::transfer::{copy_object, hash_object, Reader, Transform};
use crate::{Database, ObjectStorage};
use sha2::{Digest, Sha256};

/// Rows handed to a database per call on restore.
const RESTORE_BATCH: usize = 1000;

/// What a restore or a migration wrote.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    pub rows: u64,
    pub objects: usize,
    pub object_bytes: u64,
    /// The backup's schema, when it was older than this Parley's and the restore upgraded it.
    pub upgraded_from: Option<i64>,
}

/// Restore backup `id` of `repo` into `db` and `objects`, which must be empty unless `replace`
/// (then everything in them is deleted first). The backup is verified whole before anything
/// is written. A backup made by an earlier Parley goes into a new database (one without
/// tables): its rows are restored at the backup's schema, then the later migrations run, as
/// they would have on the deployment it came from.
pub async fn restore_backup(
    repo: &ObjectStorage,
    id: &str,
    db: &Database,
    objects: &ObjectStorage,
    replace: bool,
    key: Option<&BackupKey>,
) -> Result<RestoreReport, BackupError> {
    // The key is checked before the long verification.
    read_manifest(repo, id).await?.opening_key(key)?;
    let manifest = verify_backup(repo, id, key).await?;
    let open = manifest.opening_key(key)?;
    let latest = db.latest_schema_version();
    let theirs = manifest.schema_version;
    if theirs > latest {
        return Err(BackupError::Invalid(format!(
            "backup {id} was made by Parley {} with database schema {theirs}; this Parley knows \
             schema {latest} at most: restore it with that version or a newer one",
            manifest.parley_version
        )));
    }
    // Checked before the schema is made, so a refused restore leaves the target as it was.
    let stored = objects.list_meta(None).await?;
    if !replace && (!db.is_empty().await? || !stored.is_empty()) {
        return Err(BackupError::NotEmpty(
            "the target database or object store is not empty; restore into an empty one, or \
             pass --replace to delete what is there first"
                .into(),
        ));
    }
    let here = db.schema_version().await?;
    if here == 0 {
        db.migrate_to(theirs).await?;
    } else if here != theirs {
        return Err(BackupError::Invalid(format!(
            "backup {id} has database schema {theirs} (Parley {}) and the target database schema \
             {here}: restore it into a new database without tables (a new SQLite file, or a new \
             PostgreSQL database), which is upgraded to schema {latest} after the restore",
            manifest.parley_version
        )));
    }
    let names: Vec<&str> = manifest.tables.iter().map(|t| t.table.as_str()).collect();
    let ours = db.tables().await?;
    if names != ours {
        return Err(BackupError::Damaged(format!(
            "backup {id} lists the tables {names:?}, not schema {theirs}'s {ours:?}"
        )));
    }
    // With `replace`, the rows there are deleted in the restore's own transaction: a restore
    // that fails leaves them as they were.
    let mut restorer = db.restorer();
    if replace {
        restorer.clear_first();
    }
    let mut report = RestoreReport::default();
    for table in &manifest.tables {
        report.rows += restore_table(repo, id, table, &mut restorer, open).await?;
    }
    restorer.finish().await?;
    let transform = open.map_or(Transform::Copy, Transform::Open);
    for object in &manifest.objects {
        copy_object(
            repo,
            &object.blob(),
            objects,
            &object.key,
            transform,
            Some(&object.sha256),
        )
        .await?;
        report.objects += 1;
        report.object_bytes += object.size;
    }
    // Objects of the replaced deployment that the backup does not have go last.
    let restored: std::collections::HashSet<&str> =
        manifest.objects.iter().map(|o| o.key.as_str()).collect();
    for object in stored {
        if !restored.contains(object.key.as_str()) {
            objects.delete(&object.key).await?;
        }
    }
    if theirs < latest {
        db.migrate_to(latest).await?;
        report.upgraded_from = Some(theirs);
    }
    Ok(report)
}

/// Feed one table file into `sink` (opened with `open`, if sealed), checking it still hashes
/// as the manifest says.
async fn restore_table(
    repo: &ObjectStorage,
    id: &str,
    table: &TableEntry,
    sink: &mut impl RowSink,
    open: Option<&BackupKey>,
) -> Result<u64, BackupError> {
    let key = format!("{id}/{}", table.file);
    let mut reader = Reader::new(repo, &key, open).await?;
    let mut hasher = Sha256::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut header: Option<TableHeader> = None;
    let mut batch: Vec<Row> = Vec::with_capacity(RESTORE_BATCH);
    let mut rows = 0u64;
    let damaged = |what: String| BackupError::Damaged(format!("{key}: {what}"));
    loop {
        let chunk = reader.next().await?;
        let done = chunk.is_none();
        if let Some(chunk) = &chunk {
            hasher.update(chunk);
            pending.extend_from_slice(chunk);
        }
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + end];
            start += end + 1;
            match &header {
                None => {
                    let h: TableHeader = serde_json::from_slice(line)
                        .map_err(|e| damaged(format!("the header is not readable: {e}")))?;
                    if h.table != table.table {
                        return Err(damaged(format!("holds table {}", h.table)));
                    }
                    sink.begin_table(&h).await?;
                    header = Some(h);
                }
                Some(h) => {
                    let row: Row = serde_json::from_slice(line)
                        .map_err(|e| damaged(format!("row {}: {e}", rows + 1)))?;
                    batch.push(row);
                    rows += 1;
                    if batch.len() == RESTORE_BATCH {
                        sink.rows(h, &batch).await?;
                        batch.clear();
                    }
                }
            }
        }
        pending.drain(..start);
        if done {
            break;
        }
    }
    if !pending.is_empty() {
        return Err(damaged("the last line is cut short".into()));
    }
    let header = header.ok_or_else(|| damaged("it is empty".into()))?;
    if !batch.is_empty() {
        sink.rows(&header, &batch).await?;
    }
    let content = Manifest::content_id(open, hex(&hasher.finalize()));
    if content != table.sha256 || rows != table.rows {
        return Err(damaged("it changed since it was verified".into()));
    }
    Ok(rows)
}

/// What `migrate` found and did.
#[derive(Debug, Clone, Default)]
pub struct MigrateReport {
    /// Per table: rows, and whether the copy's SHA-256 matches the source's.
    pub tables: Vec<(String, u64, bool)>,
    pub objects: usize,
    pub object_bytes: u64,
}

impl MigrateReport {
    pub fn all_match(&self) -> bool {
        self.tables.iter().all(|(_, _, ok)| *ok)
    }
}

/// How much a migration will copy: rows per table and the objects' count and bytes.
pub async fn measure(
    db: &Database,
    objects: &ObjectStorage,
) -> Result<(Vec<(&'static str, u64)>, usize, u64), BackupError> {
    let mut snapshot = db.snapshot().await?;
    snapshot.check_tables().await?;
    let counts = snapshot.counts().await?;
    let mut prefixes = snapshot.object_prefixes().await?;
    snapshot.close().await?;
    prefixes.sort();
    let listed = objects.list_meta(None).await?;
    let referenced: Vec<_> = listed.iter().filter(|o| under(&prefixes, &o.key)).collect();
    Ok((
        counts,
        referenced.len(),
        referenced.iter().map(|o| o.size).sum(),
    ))
}

/// Copy the deployment in `source`/`source_objects` into the empty `target`/`target_objects`,
/// keeping every id and sequence, then compare each table's SHA-256 and each object's bytes
/// on both sides. The source is only read.
pub async fn migrate(
    source: &Database,
    source_objects: &ObjectStorage,
    target: &Database,
    target_objects: Option<&ObjectStorage>,
) -> Result<MigrateReport, BackupError> {
    if source.schema_version().await? != target.schema_version().await? {
        return Err(BackupError::Invalid(
            "the source and target schemas differ; run the same Parley version on both".into(),
        ));
    }
    if !target.is_empty().await? {
        return Err(BackupError::NotEmpty(
            "the target database is not empty: migrate into a new, empty database".into(),
        ));
    }
    if let Some(objects) = target_objects {
        if !objects.list_meta(None).await?.is_empty() {
            return Err(BackupError::NotEmpty(
                "the target object store is not empty: migrate into a new, empty bucket".into(),
            ));
        }
    }
    let mut snapshot = source.snapshot().await?;
    snapshot.check_tables().await?;
    let mut restorer = target.restorer();
    let mut copied = Vec::new();
    for (table, order) in TABLES {
        let (_, digest) = snapshot.dump_table(table, order, &mut restorer).await?;
        copied.push((table.to_string(), digest.rows, digest.finish()));
    }
    restorer.finish().await?;
    let mut prefixes = snapshot.object_prefixes().await?;
    snapshot.close().await?;
    prefixes.sort();

    let mut report = MigrateReport::default();
    let mut check = target.snapshot().await?;
    for ((table, order), (name, rows, sha)) in TABLES.iter().zip(copied) {
        let (_, digest) = check.dump_table(table, order, &mut Discard).await?;
        let same = digest.rows == rows && digest.finish() == sha;
        report.tables.push((name, rows, same));
    }
    check.close().await?;

    if let Some(target_objects) = target_objects {
        for meta in source_objects.list_meta(None).await? {
            if !under(&prefixes, &meta.key) {
                continue;
            }
            let copied = copy_object(
                source_objects,
                &meta.key,
                target_objects,
                &meta.key,
                Transform::Copy,
                None,
            )
            .await?;
            let copy = hash_object(target_objects, &meta.key, None).await?;
            if copy.content != copied.content || copy.content.size != meta.size {
                return Err(BackupError::Damaged(format!(
                    "object {} differs after the copy",
                    meta.key
                )));
            }
            report.objects += 1;
            report.object_bytes += meta.size;
        }
    }
    Ok(report)
}
