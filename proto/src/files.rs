//! Files: uploads, versions and attachments.

use crate::{ChannelId, DepartmentId, FileId, FolderId, MessageId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A file as its current version describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct File {
    pub id: FileId,
    pub name: String,
    /// Bytes of the current version.
    pub size: i64,
    /// The type read from the content (not from the name): `image/png`, `application/pdf`,
    /// `text/plain; charset=utf-8`, `application/octet-stream`, ...
    pub mime: String,
    /// SHA-256 of the current version's content, in hex; also its download's `ETag`.
    pub sha256: String,
    /// The current version has thumbnails (`GET /v1/files/{id}/thumbnail`): an image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail: bool,
    /// The current version's number, from 1.
    pub version: i64,
    pub owner: UserId,
    /// Set for an attachment: the channel it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelId>,
    /// Set for a file of the library: its folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderId>,
    /// Who holds the edit lock, while it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<UserId>,
    /// When the edit lock ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
    /// Set for an attachment once sent: the message that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    pub created_at: i64,
    pub updated_at: i64,
    /// In the trash since (restorable until `[files] trash_days` later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

/// One version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileVersion {
    pub version: i64,
    pub size: i64,
    pub mime: String,
    pub sha256: String,
    pub uploader: UserId,
    /// What the uploader said of it; empty when nothing.
    pub comment: String,
    pub created_at: i64,
}

/// A file carried by a message, as recipients see it in the message event and in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: FileId,
    pub name: String,
    pub size: i64,
    pub mime: String,
    /// It has thumbnails (`GET /v1/files/{id}/thumbnail`): an image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail: bool,
}

/// `GET /v1/files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileList {
    pub files: Vec<File>,
}

/// `GET /v1/files/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileVersionList {
    pub versions: Vec<FileVersion>,
}

/// What someone may do in a folder, each level including the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// Nothing: the folder does not exist for them.
    None,
    /// Browse and download.
    View,
    /// Upload, add versions, make subfolders, lock files, delete what they uploaded.
    Edit,
    /// Everything, including permissions, archiving and deleting anyone's files.
    Manage,
}

/// Whose tree a root folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FolderRoot {
    User { user_id: UserId },
    Department { department_id: DepartmentId },
    Channel { channel_id: ChannelId },
}

/// A folder of the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Folder {
    pub id: FolderId,
    /// `None` for a root.
    pub parent: Option<FolderId>,
    pub name: String,
    /// Set on a root: whose tree it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<FolderRoot>,
    /// `false`: the grants of the folders above do not apply here.
    pub inherit: bool,
    /// Archived folders (and all below them) are read-only, and browsable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<i64>,
    pub created_at: i64,
}

/// Whom a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantSubject {
    User {
        user_id: UserId,
    },
    /// The department and every department below it (guests never match).
    Department {
        department_id: DepartmentId,
    },
    /// The channel's members.
    Channel {
        channel_id: ChannelId,
    },
    /// Everyone with the role: `admin`, `dept_admin`, `member` or `guest`.
    Role {
        role: crate::Role,
    },
}

/// One grant on a folder; it applies below it too, until a nearer grant for the same person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderGrant {
    pub subject: GrantSubject,
    pub level: AccessLevel,
}

/// `PUT /v1/folders/{id}/grants`: the folder's grants, all of them, and whether it inherits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderGrants {
    pub inherit: bool,
    pub grants: Vec<FolderGrant>,
}

/// One step of a folder's path, root first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FolderCrumb {
    pub id: FolderId,
    pub name: String,
}

/// `GET /v1/folders/{id}`: a folder, where it is, what the caller may do there, and what is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FolderView {
    pub folder: Folder,
    /// From the root down to the folder itself.
    pub path: Vec<FolderCrumb>,
    pub level: AccessLevel,
    /// Archived here or above: nothing can change.
    pub read_only: bool,
    pub folders: Vec<Folder>,
    pub files: Vec<File>,
    /// The folder's own grants, shown to those who manage it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<FolderGrants>,
    /// The caller watches it (is told of new versions in it).
    pub watching: bool,
}

/// `GET /v1/folders`: the roots the caller can open, and the folders deeper in someone else's
/// tree that were shared with them by name (or with a channel of theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FolderRoots {
    pub roots: Vec<Folder>,
    pub shared: Vec<Folder>,
}

/// `POST /v1/folders/{id}/folders`: a folder inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    pub name: String,
}

/// `PATCH /v1/folders/{id}`: rename, archive or unarchive (absent: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFolder {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// `POST /v1/files/{id}/lock`: hold the edit lock this many minutes (default 30, at most 1440).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    #[serde(default)]
    pub minutes: Option<i64>,
}

/// One line of the access audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileAuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: Option<UserId>,
    /// `upload`, `version`, `download`, `delete`, `restore`, `rename`, `lock`, `unlock`,
    /// `folder_create`, `folder_update`, `share`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderId>,
    /// What exactly: a name, a version, a grant.
    pub detail: String,
}

/// `GET /v1/admin/file-audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileAudit {
    pub entries: Vec<FileAuditEntry>,
}

/// The file a `file_version` notification names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileNotice {
    pub id: FileId,
    pub name: String,
    pub version: i64,
    pub folder: FolderId,
    /// What the uploader said of the version; empty when nothing.
    pub comment: String,
}

/// `PATCH /v1/files/{id}`: rename (names as for uploads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameFile {
    pub name: String,
}
