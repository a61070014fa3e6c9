//! The file library's facts: a folder's chain up to its root, turned into what a person may do
//! there (`parley_files::level`, the one place that decides it), and the roots a person sees.

use crate::error::{AppError, AppResult};
use crate::AppState;
use parley_files::{FolderRules, Grant, Level, Person, Root, Standing, Subject};
use parley_proto::{
    ChannelId, DepartmentId, File, FileNotice, Folder, FolderCrumb, FolderGrant, FolderId,
    FolderRoot, FolderRoots, GrantSubject, NotificationKind, Role, User, UserId,
};
use parley_storage::{now_ms, AuditTarget, ChainLink};
use std::collections::HashMap;

/// A folder as the caller stands in it.
pub struct Place {
    pub folder: Folder,
    pub chain: Vec<ChainLink>,
    pub level: Level,
    /// Archived here or above.
    pub read_only: bool,
}

impl Place {
    /// From the root down to the folder.
    pub fn path(&self) -> Vec<FolderCrumb> {
        self.chain
            .iter()
            .rev()
            .map(|link| FolderCrumb {
                id: link.folder.id,
                name: link.folder.name.clone(),
            })
            .collect()
    }
}

fn standing(role: Role) -> Standing {
    match role {
        Role::Admin => Standing::Admin,
        Role::DeptAdmin => Standing::DeptAdmin,
        Role::Member => Standing::Member,
        Role::Guest => Standing::Guest,
    }
}

/// Departments' paths by id, as `parley_files::level` matches them.
type Paths = HashMap<DepartmentId, String>;

/// A department's path; one that is gone matches nobody.
fn path_of(paths: &Paths, id: DepartmentId) -> String {
    paths
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("\u{0}gone/{id}"))
}

/// The departments a chain of folders names: its root's and its grants'.
fn departments_named<'a>(chain: impl Iterator<Item = &'a ChainLink>) -> Vec<DepartmentId> {
    let mut named = Vec::new();
    for link in chain {
        if let Some(FolderRoot::Department { department_id }) = link.folder.root {
            named.push(department_id);
        }
        for grant in &link.grants {
            if let GrantSubject::Department { department_id } = grant.subject {
                named.push(department_id);
            }
        }
    }
    named
}

/// A chain's grants (the folder first) as `parley_files::level` reads them.
fn rules_of<'a>(chain: impl Iterator<Item = &'a ChainLink>, paths: &Paths) -> Vec<FolderRules> {
    chain
        .map(|link| FolderRules {
            grants: link
                .grants
                .iter()
                .map(|grant| Grant {
                    subject: match &grant.subject {
                        GrantSubject::User { user_id } => Subject::User(user_id.0),
                        GrantSubject::Department { department_id } => {
                            Subject::Department(path_of(paths, *department_id))
                        }
                        GrantSubject::Channel { channel_id } => Subject::Channel(channel_id.0),
                        GrantSubject::Role { role } => Subject::Role(standing(*role)),
                    },
                    level: grant.level,
                })
                .collect(),
            inherit: link.folder.inherit,
        })
        .collect()
}

/// Whose tree `folder` roots (`None`: it is no root); `owner` is a channel tree's creator.
fn root_of(folder: &Folder, paths: &Paths, owner: Option<i64>) -> Option<Root> {
    Some(match folder.root? {
        FolderRoot::User { user_id } => Root::User(user_id.0),
        FolderRoot::Department { department_id } => Root::Department(path_of(paths, department_id)),
        FolderRoot::Channel { channel_id } => Root::Channel {
            id: channel_id.0,
            owner,
        },
    })
}

/// Who created the channel whose tree `folder` roots, if it roots one.
async fn channel_owner(state: &AppState, folder: &Folder) -> AppResult<Option<i64>> {
    Ok(match folder.root {
        Some(FolderRoot::Channel { channel_id }) => state
            .db
            .channel(channel_id)
            .await?
            .and_then(|c| c.created_by)
            .map(|u| u.0),
        _ => None,
    })
}

/// The channels `me` is a member of, as grants name them.
pub async fn channel_ids(state: &AppState, me: &User) -> AppResult<Vec<i64>> {
    Ok(state
        .db
        .channels_of(me.id)
        .await?
        .into_iter()
        .map(|c| c.id.0)
        .collect())
}

/// What `me` may do in a folder whose chain (the folder first) is `chain`.
pub async fn level_in(state: &AppState, me: &User, chain: &[ChainLink]) -> AppResult<Level> {
    let channels = channel_ids(state, me).await?;
    level_with(state, me, &channels, chain).await
}

/// `level_in`, with `me`'s channels already at hand (when asking of many folders).
async fn level_with(
    state: &AppState,
    me: &User,
    channels: &[i64],
    chain: &[ChainLink],
) -> AppResult<Level> {
    let top = chain
        .last()
        .ok_or_else(|| AppError::not_found("no such folder"))?;
    let mut paths = Paths::new();
    for id in departments_named(chain.iter()) {
        if let Some(department) = state.db.department_by_id(id).await? {
            paths.insert(id, department.path);
        }
    }
    let owner = channel_owner(state, &top.folder).await?;
    let root =
        root_of(&top.folder, &paths, owner).ok_or_else(|| AppError::not_found("no such folder"))?;
    let rules = rules_of(chain.iter(), &paths);
    let person = Person {
        id: me.id.0,
        standing: standing(me.role),
        department: me.department_path.as_deref(),
        channels,
    };
    Ok(parley_files::level(&person, &root, &rules))
}

/// A folder `me` may read, with the folders above it (nearest first): what a search looks in.
pub struct Readable {
    pub folder: Folder,
    pub above: Vec<FolderId>,
}

/// Every folder `me` may read right now, worked out at once from every folder's grants (for a
/// search, which must never show what a folder no longer lets them see). `channels`: the
/// channels `me` is a member of.
pub async fn readable_folders(
    state: &AppState,
    me: &User,
    channels: &[i64],
) -> AppResult<Vec<Readable>> {
    let all = state.db.all_folders().await?;
    let paths: Paths = state
        .db
        .list_departments()
        .await?
        .into_iter()
        .map(|d| (d.id, d.path))
        .collect();
    let by_id: HashMap<FolderId, &ChainLink> =
        all.iter().map(|link| (link.folder.id, link)).collect();
    let person = Person {
        id: me.id.0,
        standing: standing(me.role),
        department: me.department_path.as_deref(),
        channels,
    };
    let mut owners: HashMap<FolderId, Option<i64>> = HashMap::new();
    let mut readable = Vec::new();
    'folders: for link in &all {
        let mut chain = vec![link];
        while let Some(parent) = chain.last().and_then(|l| l.folder.parent) {
            match by_id.get(&parent) {
                Some(up) if chain.len() < parley_storage::MAX_DEPTH => chain.push(*up),
                // Below a deleted folder (or a loop): nobody reads it.
                _ => continue 'folders,
            }
        }
        let top = &chain[chain.len() - 1].folder;
        let owner = match owners.get(&top.id) {
            Some(owner) => *owner,
            None => {
                let owner = channel_owner(state, top).await?;
                owners.insert(top.id, owner);
                owner
            }
        };
        let Some(root) = root_of(top, &paths, owner) else {
            continue;
        };
        let rules = rules_of(chain.iter().copied(), &paths);
        if parley_files::level(&person, &root, &rules) > Level::None {
            readable.push(Readable {
                folder: link.folder.clone(),
                above: chain[1..].iter().map(|l| l.folder.id).collect(),
            });
        }
    }
    Ok(readable)
}

/// The folder, if the caller may see it (`not_found` otherwise: nobody learns which exist).
pub async fn place(state: &AppState, me: &User, id: FolderId) -> AppResult<Place> {
    let chain = match state.db.folder_chain(id).await {
        Ok(chain) => chain,
        Err(parley_storage::StoreError::NotFound) => {
            return Err(AppError::not_found("no such folder"))
        }
        Err(e) => return Err(e.into()),
    };
    let level = level_in(state, me, &chain).await?;
    if level == Level::None {
        return Err(AppError::not_found("no such folder"));
    }
    let read_only = chain.iter().any(|l| l.folder.archived_at.is_some());
    Ok(Place {
        folder: chain[0].folder.clone(),
        chain,
        level,
        read_only,
    })
}

/// What `me` can open: their own root, their department's and those above it, and every
/// other department's or channel's root that exists and lets them in (`roots`); and folders
/// below a root shared with them by name or through a channel (`shared`).
pub async fn open_to(state: &AppState, me: &User) -> AppResult<FolderRoots> {
    let channels = channel_ids(state, me).await?;
    let mut roots = vec![
        state
            .db
            .root_folder(FolderRoot::User { user_id: me.id }, &me.name)
            .await?,
    ];
    if me.role != Role::Guest {
        if let Some(path) = &me.department_path {
            for department in state.db.list_departments().await? {
                if parley_files::within(path, &department.path) {
                    let root = FolderRoot::Department {
                        department_id: department.id,
                    };
                    roots.push(state.db.root_folder(root, &department.name).await?);
                }
            }
        }
    }
    let mut shared = Vec::new();
    let by_grant = state
        .db
        .folders_shared_with(
            me.id,
            &channels.iter().copied().map(ChannelId).collect::<Vec<_>>(),
        )
        .await?;
    for (folder, is_root) in state
        .db
        .shared_roots()
        .await?
        .into_iter()
        .map(|f| (f, true))
        .chain(by_grant.into_iter().map(|f| (f, false)))
    {
        if roots.iter().any(|r| r.id == folder.id) {
            continue;
        }
        let chain = state.db.folder_chain(folder.id).await?;
        if level_with(state, me, &channels, &chain).await? > Level::None {
            if is_root {
                roots.push(folder);
            } else {
                shared.push(folder);
            }
        }
    }
    Ok(FolderRoots { roots, shared })
}

/// Grants as stored, checked: the users, departments and channels they name exist.
pub async fn check_grants(state: &AppState, grants: &[FolderGrant]) -> AppResult<()> {
    if grants.len() > 200 {
        return Err(AppError::invalid("a folder has at most 200 grants"));
    }
    for grant in grants {
        let exists = match &grant.subject {
            GrantSubject::User { user_id } => state.db.user(*user_id).await?.is_some(),
            GrantSubject::Department { department_id } => {
                state.db.department_by_id(*department_id).await?.is_some()
            }
            GrantSubject::Channel { channel_id } => state.db.channel(*channel_id).await?.is_some(),
            GrantSubject::Role { .. } => true,
        };
        if !exists {
            return Err(AppError::invalid(format!(
                "grants: {:?} names nothing that exists",
                grant.subject
            )));
        }
    }
    Ok(())
}

/// A file (or a new version) landed in the library: audit it, and tell those concerned (a
/// `file_version` notification in their inbox, pushed to their devices).
pub async fn landed(
    state: &AppState,
    file: &File,
    uploader: UserId,
    comment: &str,
) -> AppResult<()> {
    let Some(folder) = file.folder else {
        return Ok(());
    };
    let action = if file.version == 1 {
        "upload"
    } else {
        "version"
    };
    let target = AuditTarget {
        file: Some(file.id),
        folder: Some(folder),
    };
    let detail = format!("{} v{}", file.name, file.version);
    state.db.audit(uploader, action, target, &detail).await?;
    crate::search::changed(state);
    let chain = state.db.folder_chain(folder).await?;
    let mut n = crate::tasks::notification(NotificationKind::FileVersion, now_ms());
    n.by = Some(uploader);
    n.file = Some(FileNotice {
        id: file.id,
        name: file.name.clone(),
        version: file.version,
        folder,
        comment: comment.to_string(),
    });
    for user in audience(state, &chain, uploader).await? {
        crate::tasks::notify(state, user.id, &n).await?;
    }
    Ok(())
}

/// Those who hear of a new version in the folder of `chain`: the watchers of it and the
/// folders above it and, in a channel's tree, the channel's members; each only if they may
/// see it, never the one who uploaded it.
pub async fn audience(
    state: &AppState,
    chain: &[ChainLink],
    uploader: UserId,
) -> AppResult<Vec<User>> {
    let folders: Vec<FolderId> = chain.iter().map(|l| l.folder.id).collect();
    let mut ids = state.db.watchers(&folders).await?;
    let channel = match chain.last().and_then(|l| l.folder.root) {
        Some(FolderRoot::Channel { channel_id }) => Some(channel_id),
        _ => None,
    };
    if let Some(channel) = channel {
        ids.extend(
            state
                .db
                .members(channel)
                .await?
                .into_iter()
                .map(|m| m.user_id),
        );
    }
    ids.sort();
    ids.dedup();
    let mut users = Vec::new();
    for id in ids.into_iter().filter(|id| *id != uploader) {
        let Some(user) = state.db.user(id).await?.map(|r| r.user) else {
            continue;
        };
        if level_in(state, &user, chain).await? >= Level::View {
            users.push(user);
        }
    }
    Ok(users)
}
