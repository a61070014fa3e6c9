//! Who may read, change and delete a file.

use super::{deny, messages, Actor, MessageAction};
use crate::error::{AppError, AppResult};
use axum::http::StatusCode;
use parley_files::Level;
use parley_proto::{ErrorCode, Role, UserId};
use parley_storage::ChannelAccess;

/// What the policy needs to know of a file.
pub struct FileFacts<'a> {
    pub owner: UserId,
    pub trashed: bool,
    /// For an attachment that was sent: the caller's standing in its channel.
    pub sent_in: Option<&'a ChannelAccess>,
    /// For a file of the library: what the caller may do in its folder, and whether the
    /// folder (or one above it) is archived.
    pub library: Option<(Level, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// See it and download any version.
    Read,
    /// Add a version, restore an old one, take the edit lock.
    Write,
    /// Move it to the trash, or back out.
    Delete,
}

/// A file of the library follows its folder: `view` reads, `edit` writes and deletes what one
/// uploaded, `manage` deletes anything; nothing changes in an archived folder. Otherwise owners
/// read, write and delete their files; an attachment is readable by whoever may read its
/// channel's messages (so a member who leaves loses it) and goes with a recalled message;
/// admins read and delete anything. Guests never delete. What the caller may not read is not
/// found, so nobody learns which files exist.
pub fn files(actor: Actor<'_>, file: &FileFacts<'_>, action: FileAction) -> AppResult<()> {
    let owner = file.owner == actor.id;
    if let Some((level, read_only)) = file.library {
        // A file in the trash is its uploader's (with `edit`) and the managers' only.
        let in_trash_for = level == Level::Manage || (level >= Level::Edit && owner);
        if level < Level::View || (file.trashed && !in_trash_for) {
            return Err(AppError::not_found("no such file"));
        }
        if action != FileAction::Read && read_only {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "the folder is archived: nothing in it changes",
            ));
        }
        return match action {
            FileAction::Read => Ok(()),
            FileAction::Write if level >= Level::Edit => Ok(()),
            FileAction::Write => deny("you may view this folder, not change it"),
            FileAction::Delete if actor.role == Role::Guest => deny("guests cannot delete files"),
            FileAction::Delete if level == Level::Manage || (level == Level::Edit && owner) => {
                Ok(())
            }
            FileAction::Delete => {
                deny("only who uploaded a file, or who manages its folder, deletes it")
            }
        };
    }
    let admin = actor.role == Role::Admin;
    let reads_channel = !file.trashed
        && file
            .sent_in
            .is_some_and(|channel| messages(actor, channel, MessageAction::Read).is_ok());
    if !(owner || admin || reads_channel) {
        return Err(AppError::not_found("no such file"));
    }
    match action {
        FileAction::Read => Ok(()),
        FileAction::Write if owner => Ok(()),
        FileAction::Write => deny("only the file's owner can change it"),
        FileAction::Delete if actor.role == Role::Guest => deny("guests cannot delete files"),
        FileAction::Delete if owner || admin => Ok(()),
        FileAction::Delete => deny("only the file's owner or an admin can delete it"),
    }
}

/// What may be done in a folder, by level: browse (`view`); upload, make folders, rename and
/// watch (`edit`, and `view` may watch); permissions and archiving (`manage`). Nothing
/// changes in an archived folder but its archiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderAction {
    Browse,
    /// See what was deleted here (`edit`: one's own; `manage`: everyone's).
    Trash,
    Watch,
    Upload,
    CreateFolder,
    Rename,
    Share,
    Archive,
}

pub fn folders(level: Level, read_only: bool, action: FolderAction) -> AppResult<()> {
    let needs = match action {
        FolderAction::Browse | FolderAction::Watch => Level::View,
        FolderAction::Trash
        | FolderAction::Upload
        | FolderAction::CreateFolder
        | FolderAction::Rename => Level::Edit,
        FolderAction::Share | FolderAction::Archive => Level::Manage,
    };
    if level < Level::View {
        return Err(AppError::not_found("no such folder"));
    }
    if level < needs {
        return deny(match needs {
            Level::Manage => "only who manages this folder can do that",
            _ => "you may view this folder, not change it",
        });
    }
    let changes = !matches!(
        action,
        FolderAction::Browse | FolderAction::Watch | FolderAction::Archive | FolderAction::Trash
    );
    if changes && read_only {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "the folder is archived: nothing in it changes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proto::ChannelKind;

    fn channel(is_member: bool) -> ChannelAccess {
        ChannelAccess {
            kind: ChannelKind::Group,
            created_by: None,
            archived: false,
            is_member,
            last_seq: 0,
            member_count: 2,
            urgent_every_secs: None,
            urgent_for_secs: None,
        }
    }

    #[test]
    fn who_reads_and_deletes() {
        let actor = |id, role| Actor {
            id: UserId(id),
            role,
            department: None,
        };
        let member = channel(true);
        let stranger = channel(false);
        let sent = |access, trashed| FileFacts {
            owner: UserId(1),
            trashed,
            sent_in: Some(access),
            library: None,
        };
        let read = FileAction::Read;
        let delete = FileAction::Delete;
        // The owner, even as a guest, reads; a guest never deletes.
        assert!(files(actor(1, Role::Member), &sent(&stranger, true), delete).is_ok());
        assert!(files(actor(1, Role::Guest), &sent(&stranger, false), read).is_ok());
        assert!(files(actor(1, Role::Guest), &sent(&stranger, false), delete).is_err());
        // Members of the channel read a sent attachment, not a recalled one; no one else.
        assert!(files(actor(2, Role::Member), &sent(&member, false), read).is_ok());
        assert!(files(actor(2, Role::Guest), &sent(&member, false), read).is_ok());
        assert!(files(actor(2, Role::Member), &sent(&member, true), read).is_err());
        assert!(files(actor(2, Role::Member), &sent(&stranger, false), read).is_err());
        assert!(files(actor(2, Role::Member), &sent(&member, false), delete).is_err());
        let own = FileFacts {
            owner: UserId(1),
            trashed: false,
            sent_in: None,
            library: None,
        };
        assert!(files(actor(2, Role::DeptAdmin), &own, read).is_err());
        assert!(files(actor(3, Role::Admin), &own, delete).is_ok());
    }

    #[test]
    fn library_files_follow_their_folder() {
        let actor = |id, role| Actor {
            id: UserId(id),
            role,
            department: None,
        };
        let at = |level, read_only| FileFacts {
            owner: UserId(1),
            trashed: false,
            sent_in: None,
            library: Some((level, read_only)),
        };
        use FileAction::{Delete, Read, Write};
        let member = actor(2, Role::Member);
        assert!(files(member, &at(Level::None, false), Read).is_err());
        assert!(files(member, &at(Level::View, false), Read).is_ok());
        assert!(files(member, &at(Level::View, false), Write).is_err());
        assert!(files(member, &at(Level::Edit, false), Write).is_ok());
        assert!(
            files(member, &at(Level::Edit, false), Delete).is_err(),
            "not theirs"
        );
        assert!(files(actor(1, Role::Member), &at(Level::Edit, false), Delete).is_ok());
        assert!(files(member, &at(Level::Manage, false), Delete).is_ok());
        assert!(files(actor(1, Role::Guest), &at(Level::Edit, false), Delete).is_err());
        assert!(
            files(member, &at(Level::Manage, true), Write).is_err(),
            "archived"
        );
        assert!(files(member, &at(Level::Manage, true), Read).is_ok());
        assert!(folders(Level::View, false, FolderAction::Upload).is_err());
        assert!(folders(Level::Edit, false, FolderAction::Upload).is_ok());
        assert!(folders(Level::Edit, true, FolderAction::Upload).is_err());
        assert!(folders(Level::Manage, true, FolderAction::Archive).is_ok());
        assert!(folders(Level::Edit, false, FolderAction::Share).is_err());
        assert!(folders(Level::None, false, FolderAction::Browse).is_err());
    }
}
