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

async fn department_path(state: &AppState, id: DepartmentId) -> AppResult<String> {
    Ok(state
        .db
        .department_by_id(id)
        .await?
        .map(|d| d.path)
        // A department that is gone matches nobody.
        .unwrap_or_else(|| format!("\u{0}gone/{id}")))
}

async fn subject(state: &AppState, subject: &GrantSubject) -> AppResult<Subject> {
    Ok(match subject {
        GrantSubject::User { user_id } => Subject::User(user_id.0),
        GrantSubject::Department { department_id } => {
            Subject::Department(department_path(state, *department_id).await?)
        }
        GrantSubject::Channel { channel_id } => Subject::Channel(channel_id.0),
        GrantSubject::Role { role } => Subject::Role(standing(*role)),
    })
}

async fn root(state: &AppState, folder: &Folder) -> AppResult<Root> {
    Ok(match folder.root {
        Some(FolderRoot::User { user_id }) => Root::User(user_id.0),
        Some(FolderRoot::Department { department_id }) => {
            Root::Department(department_path(state, department_id).await?)
        }
        Some(FolderRoot::Channel { channel_id }) => Root::Channel {
            id: channel_id.0,
            owner: state
                .db
                .channel(channel_id)
                .await?
                .and_then(|c| c.created_by)
                .map(|u| u.0),
        },
        None => return Err(AppError::not_found("no such folder")),
    })
}

/// The channels `me` is a member of, as grants name them.
async fn channel_ids(state: &AppState, me: &User) -> AppResult<Vec<i64>> {
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
    let root = root(state, &top.folder).await?;
    let mut rules = Vec::with_capacity(chain.len());
    for link in chain {
        let mut grants = Vec::with_capacity(link.grants.len());
        for grant in &link.grants {
            grants.push(Grant {
                subject: subject(state, &grant.subject).await?,
                level: grant.level,
            });
        }
        rules.push(FolderRules {
            grants,
            inherit: link.folder.inherit,
        });
    }
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
    let departments: std::collections::HashMap<DepartmentId, String> = state
        .db
        .list_departments()
        .await?
        .into_iter()
        .map(|d| (d.id, d.path))
        .collect();
    let department = |id: DepartmentId| {
        departments
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("\u{0}gone/{id}"))
    };
    let by_id: std::collections::HashMap<FolderId, &ChainLink> =
        all.iter().map(|link| (link.folder.id, link)).collect();
    let person = Person {
        id: me.id.0,
        standing: standing(me.role),
        department: me.department_path.as_deref(),
        channels,
    };
    let mut owners: std::collections::HashMap<ChannelId, Option<i64>> = Default::default();
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
        let root = match chain.last().and_then(|l| l.folder.root) {
            Some(FolderRoot::User { user_id }) => Root::User(user_id.0),
            Some(FolderRoot::Department { department_id }) => {
                Root::Department(department(department_id))
            }
            Some(FolderRoot::Channel { channel_id }) => {
                let owner = match owners.get(&channel_id) {
                    Some(owner) => *owner,
                    None => {
                        let owner = state
                            .db
                            .channel(channel_id)
                            .await?
                            .and_then(|c| c.created_by)
                            .map(|u| u.0);
                        owners.insert(channel_id, owner);
                        owner
                    }
                };
                Root::Channel {
                    id: channel_id.0,
                    owner,
                }
            }
            None => continue,
        };
        let rules: Vec<FolderRules> = chain
            .iter()
            .map(|l| FolderRules {
                grants: l
                    .grants
                    .iter()
                    .map(|grant| Grant {
                        subject: match &grant.subject {
                            GrantSubject::User { user_id } => Subject::User(user_id.0),
                            GrantSubject::Department { department_id } => {
                                Subject::Department(department(*department_id))
                            }
                            GrantSubject::Channel { channel_id } => Subject::Channel(channel_id.0),
                            GrantSubject::Role { role } => Subject::Role(standing(*role)),
                        },
                        level: grant.level,
                    })
                    .collect(),
                inherit: l.folder.inherit,
            })
            .collect();
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
