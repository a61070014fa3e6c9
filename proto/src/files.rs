//! Files: uploads, versions and attachments.

use crate::{ChannelId, FileId, MessageId, UserId};
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
