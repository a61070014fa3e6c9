//! Who may read, change and delete a file.

use super::{deny, messages, Actor, MessageAction};
use crate::error::{AppError, AppResult};
use parley_proto::{Role, UserId};
use parley_storage::ChannelAccess;

/// What the policy needs to know of a file.
pub struct FileFacts<'a> {
    pub owner: UserId,
    pub trashed: bool,
    /// For an attachment that was sent: the caller's standing in its channel.
    pub sent_in: Option<&'a ChannelAccess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// See it and download any version.
    Read,
    /// Move it to the trash, or back out.
    Delete,
}

/// Owners read and delete their files; an attachment is readable by whoever may read its
/// channel's messages (so a member who leaves loses it) and goes with a recalled message;
/// admins read and delete anything; guests never delete. What the caller may not read is not
/// found, so nobody learns which files exist.
pub fn files(actor: Actor<'_>, file: &FileFacts<'_>, action: FileAction) -> AppResult<()> {
    let owner = file.owner == actor.id;
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
        FileAction::Delete if actor.role == Role::Guest => deny("guests cannot delete files"),
        FileAction::Delete if owner || admin => Ok(()),
        FileAction::Delete => deny("only the file's owner or an admin can delete it"),
    }
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
        };
        assert!(files(actor(2, Role::DeptAdmin), &own, read).is_err());
        assert!(files(actor(3, Role::Admin), &own, delete).is_ok());
    }
}
