//! Every authorisation decision, one function per resource. Handlers gather the facts (who is
//! asking, where the target sits in the department tree, whether the caller is a member) and
//! ask here; nothing else in the server says yes or no.
//!
//! Guests (external customers, suppliers, partners) see only the channels they are invited to,
//! cannot list the directory, cannot create channels and cannot delete anything. A department
//! admin manages the users and channels of its own department and those below it.

use crate::error::{AppError, AppResult};
use parley_proto::{
    BridgeOptions, ChannelKind, ChannelRoom, ErrorCode, Grants, Role, User, UserId,
};
use parley_storage::{path_within, ChannelAccess};

mod files;
mod knowledge;
pub use files::{files, folders, FileAction, FileFacts, FolderAction};
pub use knowledge::{
    archived as space_archived, article, create_space, space, ArticleAction, ArticleFacts,
    SpaceFacts,
};

/// The signed-in user asking.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: UserId,
    pub role: Role,
    pub department: Option<&'a str>,
}

impl<'a> From<&'a User> for Actor<'a> {
    fn from(user: &'a User) -> Self {
        Actor {
            id: user.id,
            role: user.role,
            department: user.department_path.as_deref(),
        }
    }
}

impl Actor<'_> {
    /// Is `department` within what this department admin manages?
    fn manages(&self, department: Option<&str>) -> bool {
        self.role == Role::DeptAdmin
            && matches!((self.department, department), (Some(root), Some(d)) if path_within(d, root))
    }
}

fn deny(message: &str) -> AppResult<()> {
    Err(AppError::forbidden(message))
}

pub enum UserAction<'a> {
    List,
    Read {
        target: UserId,
        shares_channel: bool,
    },
    Create {
        role: Role,
        department: Option<&'a str>,
    },
    Update {
        target: &'a User,
        change: UserChange<'a>,
    },
}

/// What an update would change, as far as the policy cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserChange<'a> {
    pub role: Option<Role>,
    pub department: Option<&'a str>,
    /// Anything beyond name and password: role, department, enabled.
    pub administrative: bool,
}

pub fn users(actor: Actor<'_>, action: UserAction<'_>) -> AppResult<()> {
    let junior = |role: Role| matches!(role, Role::Member | Role::Guest);
    match action {
        UserAction::List if actor.role == Role::Guest => deny("guests cannot list the directory"),
        UserAction::List => Ok(()),
        UserAction::Read {
            target,
            shares_channel,
        } => {
            if actor.role != Role::Guest || target == actor.id || shares_channel {
                Ok(())
            } else {
                Err(AppError::not_found("user not found"))
            }
        }
        UserAction::Create { role, department } => match actor.role {
            Role::Admin => Ok(()),
            Role::DeptAdmin if junior(role) && actor.manages(department) => Ok(()),
            Role::DeptAdmin => {
                deny("a department admin creates members and guests in its own departments only")
            }
            Role::Member | Role::Guest => deny("only admins and department admins create users"),
        },
        UserAction::Update { target, change } => {
            if actor.role == Role::Admin {
                return Ok(());
            }
            if target.id == actor.id && !change.administrative {
                return Ok(());
            }
            let in_scope = actor.manages(target.department_path.as_deref())
                && junior(target.role)
                && change.role.is_none_or(junior)
                && change.department.is_none_or(|d| actor.manages(Some(d)));
            if in_scope {
                Ok(())
            } else {
                deny("you may change your own name and password; admins manage accounts")
            }
        }
    }
}

pub enum DepartmentAction<'a> {
    List,
    Create { path: &'a str },
}

pub fn departments(actor: Actor<'_>, action: DepartmentAction<'_>) -> AppResult<()> {
    match (actor.role, action) {
        (Role::Guest, _) => deny("guests cannot see the organisation"),
        (_, DepartmentAction::List) | (Role::Admin, DepartmentAction::Create { .. }) => Ok(()),
        (_, DepartmentAction::Create { path }) if actor.manages(Some(path)) => Ok(()),
        _ => deny("only admins create departments, and department admins below their own"),
    }
}

/// Facts about an existing channel.
#[derive(Debug, Clone, Copy)]
pub struct ChannelFacts<'a> {
    pub is_member: bool,
    pub created_by: Option<UserId>,
    pub department: Option<&'a str>,
    pub archived: bool,
    /// Members may find it and join it themselves.
    pub open: bool,
}

pub enum ChannelAction<'a> {
    Create {
        kind: ChannelKind,
        department: Option<&'a str>,
    },
    Read(ChannelFacts<'a>),
    AddMembers(ChannelFacts<'a>),
    /// Rename, set the urgent-ping schedule.
    Manage(ChannelFacts<'a>),
    /// Take a member out; `leaving` when the member is the caller.
    RemoveMember {
        facts: ChannelFacts<'a>,
        leaving: bool,
        direct: bool,
    },
    Archive(ChannelFacts<'a>),
    /// Join it yourself: an open channel, for anyone but guests.
    Join(ChannelFacts<'a>),
}

pub fn channels(actor: Actor<'_>, action: ChannelAction<'_>) -> AppResult<()> {
    let oversees =
        |facts: &ChannelFacts<'_>| actor.role == Role::Admin || actor.manages(facts.department);
    match action {
        ChannelAction::Create { .. } if actor.role == Role::Guest => {
            deny("guests cannot create channels")
        }
        ChannelAction::Create {
            kind: ChannelKind::Announcement,
            department,
        } => {
            if actor.role == Role::Admin || actor.manages(department) {
                Ok(())
            } else {
                deny("announcement channels are created by admins, or department admins for their departments")
            }
        }
        // Filing a channel under a department hands it to that department's admins: admins,
        // those department admins, and the department's own members may.
        ChannelAction::Create {
            department: Some(department),
            ..
        } => {
            let own = actor.department.is_some_and(|mine| mine == department);
            if actor.role == Role::Admin || actor.manages(Some(department)) || own {
                Ok(())
            } else {
                deny("a channel is filed under your own department, or by its admins")
            }
        }
        ChannelAction::Create { .. } => Ok(()),
        ChannelAction::Read(facts) if facts.is_member || oversees(&facts) => Ok(()),
        ChannelAction::Read(_) => Err(AppError::not_found("channel not found")),
        ChannelAction::AddMembers(facts) => {
            if !(facts.is_member || oversees(&facts)) {
                Err(AppError::not_found("channel not found"))
            } else if actor.role == Role::Guest {
                deny("guests cannot invite anyone")
            } else if facts.archived {
                Err(AppError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the channel is archived",
                ))
            } else {
                Ok(())
            }
        }
        ChannelAction::Manage(facts) => {
            if !(facts.is_member || oversees(&facts)) {
                Err(AppError::not_found("channel not found"))
            } else if facts.archived {
                Err(AppError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the channel is archived",
                ))
            } else if oversees(&facts)
                || (actor.role != Role::Guest && facts.created_by == Some(actor.id))
            {
                Ok(())
            } else {
                deny("only the channel's creator or an admin may change it")
            }
        }
        ChannelAction::RemoveMember {
            facts,
            leaving,
            direct,
        } => {
            if !(facts.is_member || oversees(&facts)) {
                Err(AppError::not_found("channel not found"))
            } else if direct {
                Err(AppError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "a direct channel keeps its two members",
                ))
            } else if leaving
                || oversees(&facts)
                || (actor.role != Role::Guest && facts.created_by == Some(actor.id))
            {
                Ok(())
            } else {
                deny("only the channel's creator or an admin removes members; anyone may leave")
            }
        }
        ChannelAction::Join(facts) => {
            if facts.is_member {
                Ok(())
            } else if !(facts.open || oversees(&facts)) {
                Err(AppError::not_found("channel not found"))
            } else if actor.role == Role::Guest {
                deny("guests join the channels they are invited to")
            } else if facts.archived {
                Err(AppError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the channel is archived",
                ))
            } else {
                Ok(())
            }
        }
        ChannelAction::Archive(facts) => {
            if !(facts.is_member || oversees(&facts)) {
                Err(AppError::not_found("channel not found"))
            } else if actor.role == Role::Guest {
                deny("guests cannot delete anything")
            } else if oversees(&facts) || facts.created_by == Some(actor.id) {
                Ok(())
            } else {
                deny("only the channel's creator or an admin may archive it")
            }
        }
    }
}

/// Facts about a message being changed.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts {
    pub sender: Option<UserId>,
    pub recalled: bool,
    /// Milliseconds since the message was sent.
    pub age_ms: i64,
}

pub enum MessageAction {
    Send,
    Read,
    /// Who has read a message: any member; in announcement channels the sender, the owner and
    /// admins only.
    Receipts {
        sender: Option<UserId>,
    },
    /// Every member's read marker: members of channels up to `small_group_max` members.
    ReadState {
        small_group_max: i64,
    },
    /// A ping's acknowledgement roster: its sender, the channel's owner and admins.
    Roster {
        sender: Option<UserId>,
    },
    /// Move one's own read marker: members only (an admin reading in has no marker).
    MarkRead,
    /// Pin or unpin: members; in announcement channels admins and the owner.
    Pin,
    /// React: members.
    React,
    Edit(MessageFacts),
    Recall {
        message: MessageFacts,
        window_ms: i64,
    },
}

fn refuse(status: axum::http::StatusCode, code: ErrorCode, message: &str) -> AppResult<()> {
    Err(AppError::new(status, code, message))
}

/// Who may post, read, edit and recall in a channel. Members only (admins may read and recall
/// anywhere); announcement channels take posts from admins and their owner only; senders edit
/// their own messages and recall them within the window; admins recall any time.
pub fn messages(actor: Actor<'_>, channel: &ChannelAccess, action: MessageAction) -> AppResult<()> {
    use axum::http::StatusCode;
    let admin = actor.role == Role::Admin;
    let admin_may = admin
        && matches!(
            action,
            MessageAction::Read
                | MessageAction::Recall { .. }
                | MessageAction::Receipts { .. }
                | MessageAction::Roster { .. }
        );
    if !(channel.is_member || admin_may) {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::NotMember,
            "you are not a member of this channel",
        );
    }
    let writes = matches!(
        action,
        MessageAction::Send
            | MessageAction::Edit(_)
            | MessageAction::Recall { .. }
            | MessageAction::Pin
            | MessageAction::React
    );
    if writes && channel.archived {
        return refuse(
            StatusCode::CONFLICT,
            ErrorCode::ChannelArchived,
            "the channel is archived",
        );
    }
    match action {
        MessageAction::Read | MessageAction::React | MessageAction::MarkRead => Ok(()),
        MessageAction::Pin => {
            let owner = channel.created_by == Some(actor.id);
            if channel.kind == ChannelKind::Announcement && !admin && !owner {
                deny("only admins and the channel's owner pin in an announcement channel")
            } else {
                Ok(())
            }
        }
        MessageAction::Receipts { sender } => {
            let owner = channel.created_by == Some(actor.id);
            if channel.kind == ChannelKind::Announcement
                && !(admin || owner || sender == Some(actor.id))
            {
                deny("in an announcement channel, read receipts are for the poster, the owner and admins")
            } else {
                Ok(())
            }
        }
        MessageAction::Roster { sender } => {
            if admin || channel.created_by == Some(actor.id) || sender == Some(actor.id) {
                Ok(())
            } else {
                deny("a ping's roster is for its sender, the channel's owner and admins")
            }
        }
        MessageAction::ReadState { small_group_max } => {
            if !shares_read_progress(channel, small_group_max) {
                deny(&format!(
                    "read markers are shown in channels of at most {small_group_max} members"
                ))
            } else {
                Ok(())
            }
        }
        MessageAction::Send => {
            let owner = channel.created_by == Some(actor.id);
            if channel.kind == ChannelKind::Announcement && !admin && !owner {
                deny("only admins and the channel's owner post in an announcement channel")
            } else {
                Ok(())
            }
        }
        MessageAction::Edit(message) => {
            if message.sender != Some(actor.id) {
                deny("only the sender edits a message")
            } else if message.recalled {
                refuse(
                    StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the message was recalled",
                )
            } else {
                Ok(())
            }
        }
        MessageAction::Recall { message, window_ms } => {
            if message.recalled {
                refuse(
                    StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the message was already recalled",
                )
            } else if admin {
                Ok(())
            } else if message.sender != Some(actor.id) {
                deny("only the sender or an admin recalls a message")
            } else if message.age_ms >= window_ms {
                refuse(
                    StatusCode::FORBIDDEN,
                    ErrorCode::RecallWindowPassed,
                    "the time to recall this message has passed; an admin can still recall it",
                )
            } else {
                Ok(())
            }
        }
    }
}

/// Do a channel's members see each other's read progress? In small channels, yes; in
/// announcement channels only the poster, the owner and admins see it (through receipts).
pub fn shares_read_progress(channel: &ChannelAccess, small_group_max: i64) -> bool {
    channel.kind != ChannelKind::Announcement && channel.member_count <= small_group_max
}

pub enum AdminAction {
    ImportOrganisation,
    ManageApiKeys,
    /// The dashboard's figures about the whole organisation.
    ViewStats,
    /// Retention (the organisation's and a channel's) and legal holds.
    ManageRetention,
    /// The state of scheduled backups.
    ViewBackups,
    /// The file library's access audit.
    FileAudit,
    /// Rebuilding this node's search index.
    Reindex,
}

pub fn admin(actor: Actor<'_>, action: AdminAction) -> AppResult<()> {
    match (actor.role, action) {
        (Role::Admin, _) => Ok(()),
        (_, AdminAction::ImportOrganisation) => deny("only admins import the organisation"),
        (_, AdminAction::ManageApiKeys) => deny("only admins manage API keys"),
        (_, AdminAction::ViewStats) => deny("only admins see the organisation's figures"),
        (_, AdminAction::ManageRetention) => deny("only admins set retention and legal holds"),
        (_, AdminAction::ViewBackups) => deny("only admins see the backups"),
        (_, AdminAction::Reindex) => deny("only admins rebuild the search index"),
        (_, AdminAction::FileAudit) => deny("only admins read the file audit"),
    }
}

pub enum RoomAction<'a> {
    Join { room: &'a str },
    Create { room: &'a str },
    List,
    Administer { room: &'a str },
}

fn insufficient_grant(message: &str) -> AppResult<()> {
    Err(AppError::new(
        axum::http::StatusCode::FORBIDDEN,
        ErrorCode::InsufficientGrant,
        message,
    ))
}

/// What an app token's grants allow in the meeting service. A token that joins must name its
/// room (an empty `room` would let it into any room, a channel's meeting included), and only
/// a recorder's token joins hidden.
pub fn rooms(grants: &Grants, action: RoomAction<'_>) -> AppResult<()> {
    let room_matches = |room: &str| grants.room.is_empty() || grants.room == room;
    let allowed = match action {
        RoomAction::Join { .. } if grants.room.is_empty() => {
            return insufficient_grant(
                "a token that joins must name its room in `grants.room`; this one names none",
            )
        }
        RoomAction::Join { .. } if grants.hidden && !grants.recorder => {
            return insufficient_grant(
                "only recorders join hidden: `grants.hidden` needs the `recorder` grant",
            )
        }
        RoomAction::Join { room } => grants.room_join && grants.room == room,
        RoomAction::Create { room } => grants.room_create && room_matches(room),
        RoomAction::List => grants.room_list || grants.room_admin,
        RoomAction::Administer { room } => grants.room_admin && room_matches(room),
    };
    if allowed {
        Ok(())
    } else {
        insufficient_grant("the token's grants do not allow this")
    }
}

/// Who calls the room service: a signed-in user, or an app with a token's grants.
#[derive(Debug, Clone, Copy)]
pub enum RoomCaller<'a> {
    User(Role),
    App(&'a Grants),
}

/// The room service REST API: admins, and app tokens whose grants allow the action. Nobody
/// opens a channel's reserved room (`meeting-<n>`, `bridge-<n>`) through it: only the
/// channel's own call does (`routes/call.rs`, `routes/bridge.rs`).
pub fn room_service(caller: RoomCaller<'_>, action: RoomAction<'_>) -> AppResult<()> {
    if let RoomAction::Create { room } = action {
        if let Some(reserved) = ChannelRoom::parse(room) {
            let how = if reserved.is_bridge() {
                "bridge"
            } else {
                "meeting"
            };
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                ErrorCode::RoomNameReserved,
                format!(
                    "room names like `{room}` are reserved for channels' meetings and bridges: \
                     only POST /v1/channels/{}/{how} opens {}",
                    reserved.channel().0,
                    reserved.describe()
                ),
            ));
        }
    }
    match caller {
        RoomCaller::App(grants) => rooms(grants, action),
        RoomCaller::User(Role::Admin) => Ok(()),
        RoomCaller::User(_) => {
            deny("only admins and app tokens with room grants use the room service")
        }
    }
}

/// A user joining a meeting with their own sign-in token: the facts the grants follow from.
pub struct MeetingJoin<'a> {
    pub user: UserId,
    pub role: Role,
    pub room: &'a str,
    /// The room's linked channel as the user sees it (`None` when the room has no channel or
    /// is not open yet).
    pub channel: Option<&'a ChannelAccess>,
    /// The room's bridge options, when it is a voice bridge.
    pub bridge: Option<&'a BridgeOptions>,
}

/// What a user joining a meeting with their own sign-in token may do there (`identity` is
/// their participant identity). Guests join only meetings of channels they were invited to.
/// A channel's voice bridge is moderated by whoever opened it, the channel's creator and the
/// organisation's admins (`room_admin`: raised hands, the floor, muting); other members may
/// speak at once in an open bridge, and listen until given the floor in a moderated one.
pub fn meeting_grants(join: MeetingJoin<'_>, identity: &str) -> AppResult<Grants> {
    let member_grants = Grants {
        room: join.room.to_string(),
        room_join: true,
        room_create: true,
        can_publish: true,
        can_subscribe: true,
        ..Grants::default()
    };
    let moderator = join.role == Role::Admin
        || join
            .channel
            .is_some_and(|c| c.is_member && c.created_by == Some(join.user))
        || join
            .bridge
            .is_some_and(|b| b.opened_by.as_deref() == Some(identity));
    let member_grants = match join.bridge {
        Some(_) if moderator => Grants {
            room_admin: true,
            ..member_grants
        },
        Some(bridge) if bridge.moderated => Grants {
            can_publish: false,
            ..member_grants
        },
        _ => member_grants,
    };
    match (join.role, join.channel) {
        (Role::Admin, _) => Ok(Grants {
            room_admin: true,
            room_list: true,
            ..member_grants
        }),
        (_, Some(access)) if access.is_member => Ok(member_grants),
        (_, Some(_)) => Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::NotMember,
            "this meeting belongs to a channel you are not a member of",
        )),
        (Role::Guest, None) => Err(AppError::forbidden(
            "guests join only the meetings of channels they were invited to",
        )),
        (_, None) => Ok(member_grants),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: Actor<'static> = Actor {
        id: UserId(1),
        role: Role::Admin,
        department: Some("HQ"),
    };
    const DEPT: Actor<'static> = Actor {
        id: UserId(2),
        role: Role::DeptAdmin,
        department: Some("HQ/Sales"),
    };
    const MEMBER: Actor<'static> = Actor {
        id: UserId(3),
        role: Role::Member,
        department: Some("HQ/Sales"),
    };
    const GUEST: Actor<'static> = Actor {
        id: UserId(4),
        role: Role::Guest,
        department: None,
    };

    fn check(actual: AppResult<()>, allowed: bool, what: &str) {
        assert_eq!(actual.is_ok(), allowed, "{what}: {actual:?}");
    }

    #[test]
    fn creating_users() {
        for (actor, role, dept, allowed) in [
            (ADMIN, Role::Admin, None, true),
            (DEPT, Role::Member, Some("HQ/Sales/East"), true),
            (DEPT, Role::Guest, Some("HQ/Sales"), true),
            (DEPT, Role::Member, Some("HQ/R&D"), false),
            (DEPT, Role::DeptAdmin, Some("HQ/Sales"), false),
            (DEPT, Role::Member, None, false),
            (MEMBER, Role::Member, Some("HQ/Sales"), false),
            (GUEST, Role::Guest, None, false),
        ] {
            let what = format!("{:?} creates {role} in {dept:?}", actor.role);
            check(
                users(
                    actor,
                    UserAction::Create {
                        role,
                        department: dept,
                    },
                ),
                allowed,
                &what,
            );
        }
    }

    #[test]
    fn channel_archive() {
        let mine = ChannelFacts {
            is_member: true,
            created_by: Some(MEMBER.id),
            department: None,
            archived: false,
            open: false,
        };
        let theirs = ChannelFacts {
            created_by: Some(UserId(99)),
            ..mine
        };
        let sales = ChannelFacts {
            is_member: false,
            department: Some("HQ/Sales"),
            ..theirs
        };
        for (actor, facts, allowed) in [
            (MEMBER, mine, true),
            (MEMBER, theirs, false),
            (GUEST, theirs, false),
            (DEPT, sales, true),
            (ADMIN, sales, true),
            (MEMBER, sales, false),
        ] {
            check(
                channels(actor, ChannelAction::Archive(facts)),
                allowed,
                &format!("{:?}", actor.role),
            );
        }
    }

    #[test]
    fn joining_a_channel_yourself() {
        let closed = ChannelFacts {
            is_member: false,
            created_by: Some(UserId(99)),
            department: None,
            archived: false,
            open: false,
        };
        let open = ChannelFacts {
            open: true,
            ..closed
        };
        let archived = ChannelFacts {
            archived: true,
            ..open
        };
        let member = ChannelFacts {
            is_member: true,
            ..closed
        };
        for (actor, facts, allowed) in [
            (MEMBER, open, true),
            (MEMBER, closed, false),
            (MEMBER, archived, false),
            (MEMBER, member, true),
            (GUEST, open, false),
            (ADMIN, closed, true),
        ] {
            check(
                channels(actor, ChannelAction::Join(facts)),
                allowed,
                &format!("{:?} {facts:?}", actor.role),
            );
        }
        let hidden = channels(MEMBER, ChannelAction::Join(closed)).expect_err("closed");
        assert_eq!(
            hidden.code,
            ErrorCode::NotFound,
            "a closed channel is not revealed"
        );
    }

    #[test]
    fn message_actions() {
        let member = ChannelAccess {
            kind: ChannelKind::Group,
            created_by: Some(UserId(99)),
            archived: false,
            is_member: true,
            last_seq: 0,
            member_count: 3,
            urgent_every_secs: None,
            urgent_for_secs: None,
        };
        let outsider = ChannelAccess {
            is_member: false,
            ..member
        };
        let announcement = ChannelAccess {
            kind: ChannelKind::Announcement,
            ..member
        };
        let archived = ChannelAccess {
            archived: true,
            ..member
        };
        let mine = MessageFacts {
            sender: Some(MEMBER.id),
            recalled: false,
            age_ms: 1_000,
        };
        let old = MessageFacts {
            age_ms: 10_000,
            ..mine
        };
        let theirs = MessageFacts {
            sender: Some(UserId(99)),
            ..mine
        };
        let window_ms = 5_000;
        let code = |r: AppResult<()>| r.err().map(|e| e.code);
        for (actor, channel, action, expected) in [
            (MEMBER, member, MessageAction::Send, None),
            (
                MEMBER,
                outsider,
                MessageAction::Send,
                Some(ErrorCode::NotMember),
            ),
            (
                ADMIN,
                outsider,
                MessageAction::Send,
                Some(ErrorCode::NotMember),
            ),
            (ADMIN, outsider, MessageAction::Read, None),
            (
                MEMBER,
                archived,
                MessageAction::Send,
                Some(ErrorCode::ChannelArchived),
            ),
            (MEMBER, archived, MessageAction::Read, None),
            (
                MEMBER,
                announcement,
                MessageAction::Send,
                Some(ErrorCode::Forbidden),
            ),
            (ADMIN, announcement, MessageAction::Send, None),
            (MEMBER, member, MessageAction::Edit(mine), None),
            (
                MEMBER,
                member,
                MessageAction::Edit(theirs),
                Some(ErrorCode::Forbidden),
            ),
            (
                MEMBER,
                member,
                MessageAction::Recall {
                    message: mine,
                    window_ms,
                },
                None,
            ),
            (
                MEMBER,
                member,
                MessageAction::Recall {
                    message: old,
                    window_ms,
                },
                Some(ErrorCode::RecallWindowPassed),
            ),
            (
                MEMBER,
                member,
                MessageAction::Recall {
                    message: theirs,
                    window_ms,
                },
                Some(ErrorCode::Forbidden),
            ),
            (
                ADMIN,
                outsider,
                MessageAction::Recall {
                    message: old,
                    window_ms,
                },
                None,
            ),
        ] {
            assert_eq!(
                code(messages(actor, &channel, action)),
                expected,
                "{:?}",
                actor.role
            );
        }
    }

    #[test]
    fn read_progress_is_shared_in_small_channels_but_not_announcements() {
        let small = ChannelAccess {
            kind: ChannelKind::Group,
            created_by: None,
            archived: false,
            is_member: true,
            last_seq: 0,
            member_count: 5,
            urgent_every_secs: None,
            urgent_for_secs: None,
        };
        assert!(shares_read_progress(&small, 20));
        assert!(!shares_read_progress(
            &ChannelAccess {
                member_count: 21,
                ..small
            },
            20
        ));
        assert!(!shares_read_progress(
            &ChannelAccess {
                kind: ChannelKind::Announcement,
                ..small
            },
            20
        ));
        let refused = messages(
            MEMBER,
            &ChannelAccess {
                kind: ChannelKind::Announcement,
                ..small
            },
            MessageAction::ReadState {
                small_group_max: 20,
            },
        );
        assert_eq!(refused.unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn room_grants() {
        let join_a = Grants {
            room: "a".into(),
            room_join: true,
            ..Grants::default()
        };
        check(
            rooms(&join_a, RoomAction::Join { room: "a" }),
            true,
            "join a",
        );
        check(
            rooms(&join_a, RoomAction::Join { room: "b" }),
            false,
            "join b",
        );
        check(
            rooms(&join_a, RoomAction::Create { room: "a" }),
            false,
            "create",
        );
        check(
            rooms(&join_a, RoomAction::Administer { room: "a" }),
            false,
            "admin",
        );
        let admin_any = Grants {
            room_admin: true,
            ..Grants::default()
        };
        check(
            rooms(&admin_any, RoomAction::Administer { room: "x" }),
            true,
            "admin any",
        );
        check(rooms(&admin_any, RoomAction::List), true, "list");
        let create_a = Grants {
            room: "a".into(),
            room_create: true,
            ..Grants::default()
        };
        check(
            rooms(&create_a, RoomAction::Create { room: "a" }),
            true,
            "create a",
        );
        check(
            rooms(&create_a, RoomAction::Create { room: "b" }),
            false,
            "create b",
        );
    }

    /// Issue 18: a join grant without a room let a token into any room, a channel's meeting
    /// included, and a hidden one let it in unseen.
    #[test]
    fn a_join_grant_names_its_room_and_only_recorders_hide() {
        let join_any = Grants {
            room_join: true,
            room_create: true,
            ..Grants::default()
        };
        check(
            rooms(&join_any, RoomAction::Join { room: "meeting-1" }),
            false,
            "join without a room",
        );
        let hidden = Grants {
            room: "a".into(),
            room_join: true,
            hidden: true,
            ..Grants::default()
        };
        check(
            rooms(&hidden, RoomAction::Join { room: "a" }),
            false,
            "hidden without recorder",
        );
        let recorder = Grants {
            recorder: true,
            ..hidden.clone()
        };
        check(
            rooms(&recorder, RoomAction::Join { room: "a" }),
            true,
            "recorder",
        );
        let refused = rooms(&hidden, RoomAction::Join { room: "a" }).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InsufficientGrant);
    }

    /// Issue 18: anyone could open `bridge-<id>` before the channel did, and the channel's
    /// bridge then could not open.
    #[test]
    fn the_room_service_opens_no_channel_room() {
        let admin = RoomCaller::User(Role::Admin);
        for name in ["meeting-1", "bridge-1", "bridge-007"] {
            let refused = room_service(admin, RoomAction::Create { room: name }).unwrap_err();
            assert_eq!(refused.code, ErrorCode::RoomNameReserved, "{name}");
        }
        check(
            room_service(
                admin,
                RoomAction::Create {
                    room: "meeting-room",
                },
            ),
            true,
            "an ordinary name",
        );
        check(
            room_service(admin, RoomAction::Administer { room: "meeting-1" }),
            true,
            "administering the channel's room",
        );
    }

    #[test]
    fn meeting_grants_follow_role_and_channel_membership() {
        let access = |is_member, created_by| ChannelAccess {
            kind: ChannelKind::Group,
            created_by,
            archived: false,
            is_member,
            last_seq: 0,
            member_count: 2,
            urgent_every_secs: None,
            urgent_for_secs: None,
        };
        let grants = |role, channel: Option<&ChannelAccess>, bridge: Option<&BridgeOptions>| {
            meeting_grants(
                MeetingJoin {
                    user: UserId(3),
                    role,
                    room: "r",
                    channel,
                    bridge,
                },
                "user:3",
            )
        };
        let (member, other) = (access(true, Some(UserId(9))), access(false, None));
        let m = grants(Role::Member, Some(&member), None).unwrap();
        assert!(m.room_join && m.can_publish && !m.room_admin);
        assert!(grants(Role::Member, Some(&other), None).is_err());
        assert!(grants(Role::Guest, Some(&member), None).is_ok());
        assert!(
            grants(Role::Guest, None, None).is_err(),
            "guests: channels only"
        );
        assert!(grants(Role::Admin, Some(&other), None).unwrap().room_admin);

        // A channel's bridge: an open one lets members speak, a moderated one has them listen;
        // who opened it, the channel's creator and admins moderate either way.
        let open = BridgeOptions::default();
        let moderated = BridgeOptions {
            moderated: true,
            ..BridgeOptions::default()
        };
        let m = grants(Role::Member, Some(&member), Some(&open)).unwrap();
        assert!(m.can_publish && !m.room_admin);
        let m = grants(Role::Member, Some(&member), Some(&moderated)).unwrap();
        assert!(!m.can_publish && !m.room_admin && m.can_subscribe);
        let opener = BridgeOptions {
            opened_by: Some("user:3".into()),
            ..moderated.clone()
        };
        let m = grants(Role::Member, Some(&member), Some(&opener)).unwrap();
        assert!(m.can_publish && m.room_admin);
        let creator = access(true, Some(UserId(3)));
        let m = grants(Role::Member, Some(&creator), Some(&moderated)).unwrap();
        assert!(m.can_publish && m.room_admin);
        let m = grants(Role::Admin, Some(&member), Some(&moderated)).unwrap();
        assert!(m.can_publish && m.room_admin);
    }
}

/// What is known about a user's relation to a meeting.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeetingFacts {
    /// A member of the meeting's channel.
    pub channel_member: bool,
    /// Took part in it with its own token.
    pub attended: bool,
}

/// What is asked of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingAction {
    /// See it, its minutes and its recordings.
    View,
    /// Write its minutes, publish them, add tasks to it.
    Edit,
}

/// Who may see a meeting, its minutes and recordings: admins; whoever attended; members (not
/// guests) of its channel. Guests see only meetings they attended. Those who took part (and
/// admins) write the minutes; the rest of the channel reads them.
pub fn meeting(role: Role, facts: MeetingFacts, action: MeetingAction) -> AppResult<()> {
    let allowed = match (role, action) {
        (Role::Admin, _) => true,
        (_, MeetingAction::Edit) | (Role::Guest, MeetingAction::View) => facts.attended,
        (Role::DeptAdmin | Role::Member, MeetingAction::View) => {
            facts.attended || facts.channel_member
        }
    };
    match (allowed, action) {
        (true, _) => Ok(()),
        (false, MeetingAction::View) => {
            deny("only those who attended the meeting or belong to its channel may see it")
        }
        (false, MeetingAction::Edit) => {
            deny("only those who took part in the meeting may write its minutes")
        }
    }
}

/// What is known about a user's relation to a task.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskFacts {
    pub assignee: bool,
    pub creator: bool,
    /// May see the task's meeting.
    pub meeting_viewer: bool,
    /// May write the task's meeting's minutes.
    pub meeting_editor: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    View,
    /// Move it along: open, in progress, done, cancelled.
    ChangeStatus,
    /// Its title, notes, assignee and due date.
    Edit,
}

/// Tasks: their assignee and creator, and those who may see their meeting, see them; the
/// assignee moves them along; the creator and the meeting's editors change them; admins do all.
pub fn task(role: Role, facts: TaskFacts, action: TaskAction) -> AppResult<()> {
    let allowed = role == Role::Admin
        || match action {
            TaskAction::View => facts.assignee || facts.creator || facts.meeting_viewer,
            TaskAction::ChangeStatus => facts.assignee || facts.creator || facts.meeting_editor,
            TaskAction::Edit => facts.creator || facts.meeting_editor,
        };
    if allowed {
        return Ok(());
    }
    if !(facts.assignee || facts.creator || facts.meeting_viewer) {
        // Not even its existence is shown to strangers.
        return Err(AppError::not_found("no such task"));
    }
    deny(match action {
        TaskAction::ChangeStatus => {
            "only the assignee, the creator or the meeting's attendees move a task along"
        }
        _ => "only the creator or the meeting's attendees change a task",
    })
}
