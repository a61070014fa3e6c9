//! Backups of a whole deployment (the database as of one instant and the objects its rows point
//! at), checked against their manifest, restored into an empty deployment, and the same copy
//! made straight from one deployment into another (SQLite and a folder to PostgreSQL and S3).
//!
//! A backup folder (the *repository*) holds many backups and shares their objects:
//!
//! ```text
//! REPO/blobs/ab/ab12…        an object's bytes, named by their SHA-256: each stored once
//! REPO/<id>/tables/<t>.jsonl each table's rows (see `dump`)
//! REPO/<id>/manifest.json    written last: every item with its size and SHA-256, and its own
//!                            digest; a backup without one is incomplete and never restored
//! REPO/tmp/<id>/…            objects being copied, renamed into `blobs` once hashed
//! ```
//!
//! An object already in an earlier backup of the repository (same key, size and time) is not
//! read or copied again.

use crate::dump::{hex, Discard, Row, RowSink, TableDigest, TableHeader, TABLES};
use crate::{now_ms, Database, ObjectError, ObjectStorage, StoreError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use thiserror::Error;

const FORMAT: &str = "parley-backup";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
/// Rows handed to a database per call on restore.
const RESTORE_BATCH: usize = 1000;

#[derive(Debug, Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("object store: {0}")]
    Object(#[from] ObjectError),
    /// The backup is not whole or not what its manifest says: never restored.
    #[error("{0}")]
    Damaged(String),
    /// The backup has no manifest: it was interrupted, or is still being written.
    #[error("{0}")]
    Incomplete(String),
    /// The target already holds data and replacing it was not asked for.
    #[error("{0}")]
    NotEmpty(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a backup holds, item by item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub id: String,
    /// The Parley version that made it.
    pub parley_version: String,
    /// The database schema (newest migration) its rows follow.
    pub schema_version: i64,
    /// `sqlite` or `postgres`: where the rows came from (they restore into either).
    pub database: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub tables: Vec<TableEntry>,
    pub objects: Vec<ObjectEntry>,
    /// SHA-256 of this manifest written with `digest` empty.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub table: String,
    /// Relative to the backup's folder.
    pub file: String,
    pub rows: u64,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// The object's key in the deployment's store.
    pub key: String,
    pub size: u64,
    pub modified_ms: i64,
    pub sha256: String,
}

impl Manifest {
    fn sealed(mut self) -> Manifest {
        self.digest = String::new();
        self.digest = hex(&Sha256::digest(
            serde_json::to_vec(&self).unwrap_or_default(),
        ));
        self
    }

    fn seal_holds(&self) -> bool {
        let mut unsealed = self.clone();
        unsealed.digest = String::new();
        hex(&Sha256::digest(
            serde_json::to_vec(&unsealed).unwrap_or_default(),
        )) == self.digest
    }

    pub fn object_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

fn blob(sha256: &str) -> String {
    format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

/// A backup's id: its UTC start time, `20261206T170512Z`, with milliseconds if needed.
fn backup_id(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) / 1000;
    let date = crate::civil_date(day).replace('-', "");
    format!(
        "{date}T{:02}{:02}{:02}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// A backup location as an object store: `s3://BUCKET` (reached with `s3`, whose own bucket
/// is ignored) or a folder.
pub fn backup_location(location: &str, s3: crate::S3Config) -> crate::ObjectStoreConfig {
    match location.strip_prefix("s3://") {
        Some(bucket) => crate::ObjectStoreConfig::S3(crate::S3Config {
            bucket: bucket.trim_end_matches('/').to_string(),
            ..s3
        }),
        None => crate::ObjectStoreConfig::Local {
            path: location.into(),
        },
    }
}

/// Take `folder`'s backup lock: an OS lock on `folder/.lock`, released when the holder ends,
/// even killed. One backup (and its pruning) writes to a folder at a time; a second is refused
/// rather than let the first one's pruning delete objects the second is using. Keep the guard
/// until the backup and the pruning are done. (A bucket has no such lock: give each writer its
/// own.)
pub fn lock_folder(folder: &std::path::Path) -> Result<std::fs::File, BackupError> {
    let path = folder.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BackupError::Invalid(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::Invalid(format!(
            "another backup is writing to {} now; try again when it is done",
            folder.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(BackupError::Invalid(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// One backup of a repository as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStatus {
    pub id: String,
    /// Its manifest, if it finished.
    pub manifest: Option<Manifest>,
    /// Why its manifest could not be read, if it has one (damaged, or made by a newer Parley).
    pub unreadable: Option<String>,
}

/// Every backup in `repo`, oldest first; those without a manifest did not finish. A manifest
/// the store cannot give right now is an error, not an incomplete backup.
pub async fn list_backups(repo: &ObjectStorage) -> Result<Vec<BackupStatus>, BackupError> {
    let mut found = Vec::new();
    for id in repo.folders(None).await? {
        if id == "blobs" || id == "tmp" {
            continue;
        }
        let (manifest, unreadable) = match read_manifest(repo, &id).await {
            Ok(manifest) => (Some(manifest), None),
            Err(BackupError::Incomplete(_)) => (None, None),
            Err(BackupError::Damaged(why)) => (None, Some(why)),
            Err(other) => return Err(other),
        };
        found.push(BackupStatus {
            id,
            manifest,
            unreadable,
        });
    }
    Ok(found)
}

async fn read_manifest(repo: &ObjectStorage, id: &str) -> Result<Manifest, BackupError> {
    let bytes = match repo.get(&format!("{id}/{MANIFEST}")).await {
        Ok(bytes) => bytes,
        Err(ObjectError::NotFound(_)) => {
            return Err(BackupError::Incomplete(format!(
                "backup {id} is incomplete: it has no manifest (it was interrupted, or is still \
                 being written)"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        BackupError::Damaged(format!("backup {id}: the manifest is not readable: {e}"))
    })?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
        return Err(BackupError::Damaged(format!(
            "backup {id}: not a {FORMAT} version {FORMAT_VERSION} manifest"
        )));
    }
    if !manifest.seal_holds() {
        return Err(BackupError::Damaged(format!(
            "backup {id}: the manifest was changed after it was written (its digest does not match)"
        )));
    }
    Ok(manifest)
}

/// Writes each table's lines into the backup folder as it is dumped.
struct FileSink<'a> {
    repo: &'a ObjectStorage,
    id: &'a str,
    writer: Option<crate::ObjectWriter>,
}

impl FileSink<'_> {
    async fn close(&mut self) -> Result<(), StoreError> {
        if let Some(writer) = self.writer.take() {
            writer.finish().await.map_err(object_to_store)?;
        }
        Ok(())
    }
}

fn object_to_store(e: ObjectError) -> StoreError {
    StoreError::Invalid(format!("writing the backup: {e}"))
}

impl RowSink for FileSink<'_> {
    async fn begin_table(&mut self, header: &TableHeader) -> Result<(), StoreError> {
        self.close().await?;
        let mut writer = self
            .repo
            .writer(&format!("{}/tables/{}.jsonl", self.id, header.table))
            .await
            .map_err(object_to_store)?;
        let line = TableDigest::new().line(header, false);
        writer.write(&line).await.map_err(object_to_store)?;
        self.writer = Some(writer);
        Ok(())
    }

    async fn rows(&mut self, _: &TableHeader, rows: &[Row]) -> Result<(), StoreError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("rows before their table".into()))?;
        let mut digest = TableDigest::new();
        let mut buf = Vec::with_capacity(rows.len() * 128);
        for row in rows {
            buf.extend_from_slice(&digest.line(row, true));
        }
        writer.write(&buf).await.map_err(object_to_store)?;
        Ok(())
    }
}

/// Copy one object into the repository's blobs, hashing it on the way; returns its SHA-256.
async fn store_blob(
    source: &ObjectStorage,
    key: &str,
    repo: &ObjectStorage,
    staging: &str,
) -> Result<String, BackupError> {
    let sha = copy_object(source, key, repo, staging, None).await?;
    let name = blob(&sha);
    if repo.exists(&name).await? {
        repo.delete(staging).await?;
    } else {
        repo.rename(staging, &name).await?;
    }
    Ok(sha)
}

/// Whether `key` lies under one of `prefixes` (sorted).
fn under(prefixes: &[String], key: &str) -> bool {
    let at = prefixes.partition_point(|p| p.as_str() <= key);
    at > 0 && key.starts_with(prefixes[at - 1].as_str())
}

/// What `take_backup` did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub manifest: Manifest,
    /// Objects read and stored now, and their bytes.
    pub copied: usize,
    pub copied_bytes: u64,
    /// Objects an earlier backup already holds.
    pub reused: usize,
}

/// Back up `db` and the objects its rows point at into the repository `repo`, while the
/// server keeps serving. Returns the manifest, written last.
pub async fn take_backup(
    db: &Database,
    objects: &ObjectStorage,
    repo: &ObjectStorage,
    parley_version: &str,
) -> Result<BackupReport, BackupError> {
    let started_at = now_ms();
    let mut id = backup_id(started_at);
    let existing = list_backups(repo).await?;
    if existing.iter().any(|b| b.id == id) {
        id = format!("{id}{:03}", started_at.rem_euclid(1000));
    }
    // The newest finished backup's objects, to copy only what is new.
    let earlier: HashMap<String, ObjectEntry> = existing
        .iter()
        .rev()
        .find_map(|b| b.manifest.clone())
        .map(|m| m.objects.into_iter().map(|o| (o.key.clone(), o)).collect())
        .unwrap_or_default();
    let written = write_backup(db, objects, repo, parley_version, &id, started_at, &earlier).await;
    if written.is_err() {
        // What a failed backup wrote would only fill the folder: gone, as far as it can be.
        for prefix in [id.clone(), format!("tmp/{id}")] {
            if let Ok(left) = repo.list_meta(Some(&prefix)).await {
                for object in left {
                    repo.delete(&object.key).await.ok();
                }
            }
        }
    }
    written
}

async fn write_backup(
    db: &Database,
    objects: &ObjectStorage,
    repo: &ObjectStorage,
    parley_version: &str,
    id: &str,
    started_at: i64,
    earlier: &HashMap<String, ObjectEntry>,
) -> Result<BackupReport, BackupError> {
    let id = id.to_string();
    let mut snapshot = db.snapshot().await?;
    let present = snapshot.tables().await?;
    let schema_version = snapshot.schema_version().await?;
    let mut sink = FileSink {
        repo,
        id: &id,
        writer: None,
    };
    let mut tables = Vec::new();
    for (table, order) in present {
        let (_, digest) = snapshot.dump_table(table, order, &mut sink).await?;
        let (rows, size) = (digest.rows, digest.bytes);
        tables.push(TableEntry {
            table: table.to_string(),
            file: format!("tables/{table}.jsonl"),
            rows,
            size,
            sha256: digest.finish(),
        });
    }
    sink.close().await?;
    let mut prefixes = snapshot.object_prefixes().await?;
    snapshot.close().await?;
    prefixes.sort();

    // Listed after the snapshot: every object a row of it points at is there (objects are
    // only added); those written since belong to rows the snapshot does not have.
    let mut entries = Vec::new();
    let (mut copied, mut copied_bytes, mut reused) = (0, 0, 0);
    for meta in objects.list_meta(None).await? {
        if !under(&prefixes, &meta.key) {
            continue;
        }
        if let Some(old) = earlier.get(&meta.key) {
            if old.size == meta.size
                && old.modified_ms == meta.modified_ms
                && repo.exists(&blob(&old.sha256)).await?
            {
                entries.push(old.clone());
                reused += 1;
                continue;
            }
        }
        let staging = format!("tmp/{id}/{}", entries.len());
        let sha256 = store_blob(objects, &meta.key, repo, &staging).await?;
        copied += 1;
        copied_bytes += meta.size;
        entries.push(ObjectEntry {
            key: meta.key,
            size: meta.size,
            modified_ms: meta.modified_ms,
            sha256,
        });
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        id: id.clone(),
        parley_version: parley_version.into(),
        schema_version,
        database: match db.backend() {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        }
        .into(),
        started_at,
        finished_at: now_ms(),
        tables,
        objects: entries,
        digest: String::new(),
    }
    .sealed();
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Invalid(format!("manifest: {e}")))?;
    repo.put(&format!("{id}/{MANIFEST}"), bytes.into()).await?;
    Ok(BackupReport {
        manifest,
        copied,
        copied_bytes,
        reused,
    })
}

/// What `prune_backups` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub backups: Vec<String>,
    pub blobs: usize,
    pub blob_bytes: u64,
}

/// Keep the newest `keep` complete backups of `repo` (at least one): delete the older ones,
/// incomplete ones older than the newest complete one, the objects no kept backup holds, and
/// what interrupted backups left half-copied.
pub async fn prune_backups(repo: &ObjectStorage, keep: usize) -> Result<PruneReport, BackupError> {
    let backups = list_backups(repo).await?;
    if let Some(bad) = backups.iter().find(|b| b.unreadable.is_some()) {
        // Its objects are unknown: deleting any blob could break it.
        return Err(BackupError::Damaged(format!(
            "not pruning: backup {} cannot be read ({})",
            bad.id,
            bad.unreadable.as_deref().unwrap_or_default()
        )));
    }
    let complete: Vec<&BackupStatus> = backups.iter().filter(|b| b.manifest.is_some()).collect();
    let Some(newest) = complete.last() else {
        return Ok(PruneReport::default());
    };
    let kept: Vec<&BackupStatus> = complete.iter().rev().take(keep.max(1)).copied().collect();
    let mut report = PruneReport::default();
    for backup in &backups {
        let keep_it = kept.iter().any(|k| k.id == backup.id)
            || (backup.manifest.is_none() && backup.id > newest.id);
        if keep_it {
            continue;
        }
        for object in repo.list_meta(Some(&backup.id)).await? {
            repo.delete(&object.key).await?;
        }
        report.backups.push(backup.id.clone());
    }
    let held: std::collections::HashSet<String> = kept
        .iter()
        .filter_map(|b| b.manifest.as_ref())
        .flat_map(|m| m.objects.iter().map(|o| blob(&o.sha256)))
        .collect();
    for object in repo.list_meta(Some("blobs")).await? {
        if !held.contains(&object.key) {
            repo.delete(&object.key).await?;
            report.blobs += 1;
            report.blob_bytes += object.size;
        }
    }
    for object in repo.list_meta(Some("tmp")).await? {
        let id = object.key.split('/').nth(1).unwrap_or_default();
        if id <= newest.id.as_str() {
            repo.delete(&object.key).await?;
        }
    }
    Ok(report)
}

/// Read an object from `store` and return its SHA-256 and size.
async fn hash_object(store: &ObjectStorage, key: &str) -> Result<(String, u64), BackupError> {
    let mut stream = store.stream(key).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Check backup `id` of `repo` against its manifest without restoring it: every table file
/// and every object is read and hashed.
pub async fn verify_backup(repo: &ObjectStorage, id: &str) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(repo, id).await?;
    for table in &manifest.tables {
        let key = format!("{id}/{}", table.file);
        let (sha, size) = match hash_object(repo, &key).await {
            Err(BackupError::Object(ObjectError::NotFound(_))) => {
                return Err(BackupError::Damaged(format!("{key} is missing")))
            }
            other => other?,
        };
        if size != table.size || sha != table.sha256 {
            return Err(BackupError::Damaged(format!(
                "{key} does not match the manifest ({size} bytes, SHA-256 {sha}; the manifest \
                 says {} bytes, {})",
                table.size, table.sha256
            )));
        }
    }
    for object in &manifest.objects {
        let key = blob(&object.sha256);
        let (sha, size) = match hash_object(repo, &key).await {
            Err(BackupError::Object(ObjectError::NotFound(_))) => {
                return Err(BackupError::Damaged(format!(
                    "{key} (object {}) is missing",
                    object.key
                )))
            }
            other => other?,
        };
        if size != object.size || sha != object.sha256 {
            return Err(BackupError::Damaged(format!(
                "{key} (object {}) does not match the manifest",
                object.key
            )));
        }
    }
    Ok(manifest)
}

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
) -> Result<RestoreReport, BackupError> {
    let manifest = verify_backup(repo, id).await?;
    let latest = db.latest_schema_version();
    let theirs = manifest.schema_version;
    if theirs > latest {
        return Err(BackupError::Invalid(format!(
            "backup {id} was made by Parley {} with database schema {theirs}; this Parley knows \
             schema {latest} at most: restore it with that version or a newer one",
            manifest.parley_version
        )));
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
    let stored = objects.list_meta(None).await?;
    if !replace && (!db.is_empty().await? || !stored.is_empty()) {
        return Err(BackupError::NotEmpty(
            "the target database or object store is not empty; restore into an empty one, or \
             pass --replace to delete what is there first"
                .into(),
        ));
    }
    // With `replace`, the rows there are deleted in the restore's own transaction: a restore
    // that fails leaves them as they were.
    let mut restorer = db.restorer();
    if replace {
        restorer.clear_first();
    }
    let mut report = RestoreReport::default();
    for table in &manifest.tables {
        report.rows += restore_table(repo, id, table, &mut restorer).await?;
    }
    restorer.finish().await?;
    for object in &manifest.objects {
        copy_object(
            repo,
            &blob(&object.sha256),
            objects,
            &object.key,
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

/// Feed one table file into `sink`, checking it still hashes as the manifest says.
async fn restore_table(
    repo: &ObjectStorage,
    id: &str,
    table: &TableEntry,
    sink: &mut impl RowSink,
) -> Result<u64, BackupError> {
    let key = format!("{id}/{}", table.file);
    let mut stream = repo.stream(&key).await?;
    let mut hasher = Sha256::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut header: Option<TableHeader> = None;
    let mut batch: Vec<Row> = Vec::with_capacity(RESTORE_BATCH);
    let mut rows = 0u64;
    let damaged = |what: String| BackupError::Damaged(format!("{key}: {what}"));
    loop {
        let chunk = stream.next().await.transpose()?;
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
    if hex(&hasher.finalize()) != table.sha256 || rows != table.rows {
        return Err(damaged("it changed since it was verified".into()));
    }
    Ok(rows)
}

/// Copy `from` in `source` to `to` in `target`, hashing the bytes on the way, and return
/// their SHA-256. With `expected`, bytes that hash to anything else are discarded. A failed
/// copy is aborted (an unfinished multipart upload would stay in an S3 bucket, unlisted).
async fn copy_object(
    source: &ObjectStorage,
    from: &str,
    target: &ObjectStorage,
    to: &str,
    expected: Option<&str>,
) -> Result<String, BackupError> {
    let mut stream = source.stream(from).await?;
    let mut writer = target.writer(to).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let written = match chunk {
            Ok(chunk) => {
                hasher.update(&chunk);
                writer.write(&chunk).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            writer.abort().await.ok();
            return Err(e.into());
        }
    }
    let sha = hex(&hasher.finalize());
    if let Some(expected) = expected.filter(|e| *e != sha) {
        writer.abort().await.ok();
        return Err(BackupError::Damaged(format!(
            "{from} does not hash to {expected}"
        )));
    }
    writer.finish().await?;
    Ok(sha)
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
            let sha =
                copy_object(source_objects, &meta.key, target_objects, &meta.key, None).await?;
            let (copy, size) = hash_object(target_objects, &meta.key).await?;
            if copy != sha || size != meta.size {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_utc_start_time() {
        // 2026-12-06 17:05:12 UTC.
        assert_eq!(backup_id(1_796_576_712_000), "20261206T170512Z");
    }

    #[test]
    fn objects_are_kept_only_under_a_prefix_the_rows_name() {
        let prefixes = vec!["recordings/1/2/".to_string(), "recordings/1/3/".to_string()];
        assert!(under(&prefixes, "recordings/1/2/000000"));
        assert!(under(&prefixes, "recordings/1/3/000007"));
        assert!(!under(&prefixes, "recordings/1/20/000000"));
        assert!(!under(&prefixes, "recordings/1/4/000000"));
        assert!(!under(&prefixes, "parley/.ready"));
        assert!(!under(&[], "recordings/1/2/000000"));
    }

    #[test]
    fn a_changed_manifest_breaks_its_seal() {
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            id: "20261206T170512Z".into(),
            parley_version: "0.1.0".into(),
            schema_version: 9,
            database: "sqlite".into(),
            started_at: 1,
            finished_at: 2,
            tables: vec![TableEntry {
                table: "users".into(),
                file: "tables/users.jsonl".into(),
                rows: 3,
                size: 100,
                sha256: "ab".repeat(32),
            }],
            objects: Vec::new(),
            digest: String::new(),
        }
        .sealed();
        assert!(manifest.seal_holds());
        let mut changed = manifest.clone();
        changed.tables[0].rows = 4;
        assert!(!changed.seal_holds());
    }
}
