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
//! An object the newest complete backup of the repository already holds (same key, size and
//! time, and the same encryption key) is not read or copied again.
//!
//! With the operator's key (`crypt`), every table file and object is sealed: the manifest
//! records each content's size and content id (an HMAC of its SHA-256, which also names its
//! blob) and, in `stored`, the sealed bytes' size and SHA-256, and carries an HMAC of itself.
//! The manifest stays readable, so a backup can be listed, and checked for damage as stored,
//! without the key; tampering shows only with it.

use crate::crypt::{BackupKey, Sealer, CIPHER};
use crate::dump::{hex, Row, RowSink, TableDigest, TableHeader};
use crate::transfer::{copy_object, hash_object, Transform};
use crate::{now_ms, Database, ObjectError, ObjectStorage, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use thiserror::Error;

const FORMAT: &str = "parley-backup";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

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
    /// Set when the backup is encrypted: restoring it needs the key it names. Its entries'
    /// `sha256` are then content ids (`BackupKey::content_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// For an encrypted backup: an HMAC of this manifest (written with `mac` and `digest`
    /// empty) under the key, so one changed without it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// SHA-256 of this manifest written with `digest` empty.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub cipher: String,
    /// `BackupKey::id` of the key it was sealed with.
    pub key_id: String,
}

/// A file's bytes as stored, when they differ from its content (sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub table: String,
    /// Relative to the backup's folder.
    pub file: String,
    pub rows: u64,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// The object's key in the deployment's store.
    pub key: String,
    pub size: u64,
    pub modified_ms: i64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
}

impl ObjectEntry {
    /// Where its bytes are in the repository.
    pub(crate) fn blob(&self) -> String {
        blob(&self.sha256)
    }
}

impl Manifest {
    fn sealed(mut self, key: Option<&BackupKey>) -> Manifest {
        self.digest = String::new();
        self.mac = None;
        self.mac = key.map(|key| key.manifest_mac(&serde_json::to_vec(&self).unwrap_or_default()));
        self.digest = hex(&Sha256::digest(
            serde_json::to_vec(&self).unwrap_or_default(),
        ));
        self
    }

    fn mac_holds(&self, key: &BackupKey) -> bool {
        let mut bare = self.clone();
        bare.digest = String::new();
        bare.mac = None;
        self.mac.as_deref()
            == Some(
                key.manifest_mac(&serde_json::to_vec(&bare).unwrap_or_default())
                    .as_str(),
            )
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

    fn key_id(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key_id.as_str())
    }

    /// The key to open this backup with: `key` if it is the one it was sealed with and the
    /// manifest's HMAC holds under it; `None` for a backup that is not encrypted and no key.
    pub(crate) fn opening_key<'k>(
        &self,
        key: Option<&'k BackupKey>,
    ) -> Result<Option<&'k BackupKey>, BackupError> {
        match (self.key_id(), key) {
            (None, None) => Ok(None),
            (Some(id), Some(key)) if key.id() == id => {
                if self.mac_holds(key) {
                    Ok(Some(key))
                } else {
                    Err(BackupError::Damaged(format!(
                        "the manifest of backup {} was changed by someone without its key",
                        self.id
                    )))
                }
            }
            (Some(id), Some(key)) => Err(BackupError::Invalid(format!(
                "backup {} is encrypted with key {id}, not with this key ({})",
                self.id,
                key.id()
            ))),
            (Some(id), None) => Err(BackupError::Invalid(format!(
                "backup {} is encrypted (key {id}): give its key file (--key-file)",
                self.id
            ))),
            (None, Some(_)) => Err(BackupError::Invalid(format!(
                "backup {} is not encrypted, yet a key was given: refused, as its encryption may \
                 have been stripped; without --key-file it restores as a plain backup",
                self.id
            ))),
        }
    }

    /// What the manifest records for content with this SHA-256.
    pub(crate) fn content_id(key: Option<&BackupKey>, sha256: String) -> String {
        match key {
            Some(key) => key.content_id(&sha256),
            None => sha256,
        }
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

pub(crate) async fn read_manifest(repo: &ObjectStorage, id: &str) -> Result<Manifest, BackupError> {
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

/// Writes each table's lines into the backup folder as it is dumped, sealed with `key` if
/// there is one.
struct FileSink<'a> {
    repo: &'a ObjectStorage,
    id: &'a str,
    key: Option<&'a BackupKey>,
    file: Option<TableFile>,
    /// Each sealed table file's bytes as stored, by table.
    stored: HashMap<String, Stored>,
}

struct TableFile {
    table: String,
    writer: crate::ObjectWriter,
    sealer: Option<Sealer>,
    written: Sha256,
    written_size: u64,
}

impl TableFile {
    async fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        match &mut self.sealer {
            Some(sealer) => {
                let out = sealer.push(data);
                self.emit(&out).await
            }
            None => self.emit(data).await,
        }
    }

    async fn emit(&mut self, out: &[u8]) -> Result<(), StoreError> {
        self.written.update(out);
        self.written_size += out.len() as u64;
        self.writer.write(out).await.map_err(object_to_store)
    }
}

impl FileSink<'_> {
    async fn close(&mut self) -> Result<(), StoreError> {
        if let Some(mut file) = self.file.take() {
            if let Some(sealer) = file.sealer.take() {
                let out = sealer.finish();
                file.emit(&out).await?;
                self.stored.insert(
                    file.table.clone(),
                    Stored {
                        size: file.written_size,
                        sha256: hex(&file.written.clone().finalize()),
                    },
                );
            }
            file.writer.finish().await.map_err(object_to_store)?;
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
        let writer = self
            .repo
            .writer(&format!("{}/tables/{}.jsonl", self.id, header.table))
            .await
            .map_err(object_to_store)?;
        let sealer = match self.key {
            Some(key) => Some(
                key.sealer()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            ),
            None => None,
        };
        let mut file = TableFile {
            table: header.table.clone(),
            writer,
            sealer,
            written: Sha256::new(),
            written_size: 0,
        };
        file.write(&TableDigest::new().line(header, false)).await?;
        self.file = Some(file);
        Ok(())
    }

    async fn rows(&mut self, _: &TableHeader, rows: &[Row]) -> Result<(), StoreError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("rows before their table".into()))?;
        let mut digest = TableDigest::new();
        let mut buf = Vec::with_capacity(rows.len() * 128);
        for row in rows {
            buf.extend_from_slice(&digest.line(row, true));
        }
        file.write(&buf).await
    }
}

/// Copy one object into the repository's blobs (sealed with `key`, if given), hashing it on
/// the way.
async fn store_blob(
    source: &ObjectStorage,
    key: &str,
    repo: &ObjectStorage,
    staging: &str,
    crypt: Option<&BackupKey>,
) -> Result<ObjectEntry, BackupError> {
    let transform = crypt.map_or(Transform::Copy, Transform::Seal);
    let copied = copy_object(source, key, repo, staging, transform, None).await?;
    let sha256 = Manifest::content_id(crypt, copied.content.sha256);
    let mut stored = crypt.map(|_| copied.written);
    let at = blob(&sha256);
    if repo.exists(&at).await? {
        // The same content is there already; sealed, its bytes are not the copy's.
        repo.delete(staging).await?;
        if stored.is_some() {
            stored = Some(hash_object(repo, &at, None).await?.written);
        }
    } else {
        repo.rename(staging, &at).await?;
    }
    Ok(ObjectEntry {
        key: key.to_string(),
        size: copied.content.size,
        modified_ms: 0,
        sha256,
        stored,
    })
}

/// Whether `key` lies under one of `prefixes` (sorted).
pub(crate) fn under(prefixes: &[String], key: &str) -> bool {
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
    key: Option<&BackupKey>,
) -> Result<BackupReport, BackupError> {
    let started_at = now_ms();
    let mut id = backup_id(started_at);
    let existing = list_backups(repo).await?;
    if existing.iter().any(|b| b.id == id) {
        id = format!("{id}{:03}", started_at.rem_euclid(1000));
    }
    // The newest finished backup's objects, to copy only what is new; if it was sealed with
    // the same key, or neither is sealed.
    let earlier: HashMap<String, ObjectEntry> = existing
        .iter()
        .rev()
        .find_map(|b| b.manifest.clone())
        .filter(|m| m.key_id() == key.map(BackupKey::id))
        .map(|m| m.objects.into_iter().map(|o| (o.key.clone(), o)).collect())
        .unwrap_or_default();
    let target = Target {
        repo,
        id: &id,
        key,
        parley_version,
        started_at,
    };
    let written = write_backup(db, objects, &target, &earlier).await;
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

/// Where a backup goes and how.
struct Target<'a> {
    repo: &'a ObjectStorage,
    id: &'a str,
    key: Option<&'a BackupKey>,
    parley_version: &'a str,
    started_at: i64,
}

async fn write_backup(
    db: &Database,
    objects: &ObjectStorage,
    target: &Target<'_>,
    earlier: &HashMap<String, ObjectEntry>,
) -> Result<BackupReport, BackupError> {
    let (repo, id, key) = (target.repo, target.id.to_string(), target.key);
    let mut snapshot = db.snapshot().await?;
    let present = snapshot.tables().await?;
    let schema_version = snapshot.schema_version().await?;
    let mut sink = FileSink {
        repo,
        id: &id,
        key,
        file: None,
        stored: HashMap::new(),
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
            sha256: Manifest::content_id(key, digest.finish()),
            stored: None,
        });
    }
    sink.close().await?;
    for table in &mut tables {
        table.stored = sink.stored.remove(&table.table);
    }
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
                && repo.exists(&old.blob()).await?
            {
                entries.push(old.clone());
                reused += 1;
                continue;
            }
        }
        let staging = format!("tmp/{id}/{}", entries.len());
        let mut entry = store_blob(objects, &meta.key, repo, &staging, key).await?;
        entry.modified_ms = meta.modified_ms;
        copied += 1;
        copied_bytes += meta.size;
        entries.push(entry);
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        id: id.clone(),
        parley_version: target.parley_version.into(),
        schema_version,
        database: match db.backend() {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        }
        .into(),
        started_at: target.started_at,
        finished_at: now_ms(),
        tables,
        objects: entries,
        encryption: key.map(|key| Encryption {
            cipher: CIPHER.into(),
            key_id: key.id().into(),
        }),
        mac: None,
        digest: String::new(),
    }
    .sealed(key);
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
        .flat_map(|m| m.objects.iter().map(ObjectEntry::blob))
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

/// Check backup `id` of `repo` against its manifest without restoring it: every table file
/// and every object is read and hashed. An encrypted backup is checked as stored without its
/// key, and opened and checked whole with it.
pub async fn verify_backup(
    repo: &ObjectStorage,
    id: &str,
    key: Option<&BackupKey>,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(repo, id).await?;
    let open = match manifest.opening_key(key) {
        Ok(open) => open,
        // Without the key, the sealed bytes are what can be checked.
        Err(_) if key.is_none() => None,
        Err(e) => return Err(e),
    };
    let check = |at: &str,
                 what: &str,
                 found: crate::transfer::Copied,
                 size: u64,
                 sha256: &str,
                 stored: Option<&Stored>| {
        let content_ok = (open.is_none() && stored.is_some())
            || (found.content.size == size
                && Manifest::content_id(open, found.content.sha256.clone()) == sha256);
        let stored_ok = stored.is_none_or(|s| *s == found.written);
        if content_ok && stored_ok {
            Ok(())
        } else {
            Err(BackupError::Damaged(format!(
                "{at}{what} does not match the manifest ({} bytes, SHA-256 {})",
                found.written.size, found.written.sha256
            )))
        }
    };
    let hash = |at: String, what: String| async move {
        match hash_object(repo, &at, open).await {
            Err(BackupError::Object(ObjectError::NotFound(_))) => {
                Err(BackupError::Damaged(format!("{at}{what} is missing")))
            }
            other => other,
        }
    };
    for table in &manifest.tables {
        let at = format!("{id}/{}", table.file);
        let found = hash(at.clone(), String::new()).await?;
        check(
            &at,
            "",
            found,
            table.size,
            &table.sha256,
            table.stored.as_ref(),
        )?;
    }
    for object in &manifest.objects {
        let (at, what) = (object.blob(), format!(" (object {})", object.key));
        let found = hash(at.clone(), what.clone()).await?;
        check(
            &at,
            &what,
            found,
            object.size,
            &object.sha256,
            object.stored.as_ref(),
        )?;
    }
    Ok(manifest)
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
                stored: None,
            }],
            objects: Vec::new(),
            encryption: None,
            mac: None,
            digest: String::new(),
        }
        .sealed(None);
        assert!(manifest.seal_holds());
        let mut changed = manifest.clone();
        changed.tables[0].rows = 4;
        assert!(!changed.seal_holds());
    }
}
