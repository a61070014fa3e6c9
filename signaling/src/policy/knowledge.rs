//! Who may read, write and review in a space of the knowledge base.

use super::deny;
use crate::error::{AppError, AppResult};
use axum::http::StatusCode;
use parley_proto::{ErrorCode, Role, SpaceLevel, SpaceRole};

/// What an archived space answers to a change.
pub fn archived() -> AppError {
    AppError::new(
        StatusCode::CONFLICT,
        ErrorCode::Conflict,
        "the space is archived: nothing in it changes",
    )
}

/// How someone stands to a space.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpaceFacts {
    /// A department admin of the space's department or of one above it.
    pub department_admin: bool,
    /// One of the people the space is for: its department's (or one below it), or, for a
    /// topic space, anyone.
    pub in_audience: bool,
    /// The highest role the space gives them by name or through one of their channels.
    pub named: Option<SpaceRole>,
}

/// Admins, the department admins above the space's department and those it names `admin` are
/// its knowledge admins; the people it is for, and those it names `writer`, write; those it
/// names `reader` read. Guests are never more than readers, and only where they are named.
pub fn space(role: Role, facts: SpaceFacts) -> SpaceLevel {
    if role == Role::Admin || (role == Role::DeptAdmin && facts.department_admin) {
        return SpaceLevel::Admin;
    }
    if role == Role::Guest {
        return match facts.named {
            Some(_) => SpaceLevel::Read,
            None => SpaceLevel::None,
        };
    }
    match facts.named {
        Some(SpaceRole::Admin) => SpaceLevel::Admin,
        Some(SpaceRole::Writer) => SpaceLevel::Write,
        _ if facts.in_audience => SpaceLevel::Write,
        Some(SpaceRole::Reader) => SpaceLevel::Read,
        None => SpaceLevel::None,
    }
}

/// How someone stands to an article.
#[derive(Debug, Clone, Copy)]
pub struct ArticleFacts {
    pub level: SpaceLevel,
    pub author: bool,
    /// It has a published version.
    pub published: bool,
    /// Its space is archived.
    pub archived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleAction {
    /// Its published version and the versions that were published; vote and comment.
    ReadPublished,
    /// Its latest version, drafts and every version.
    ReadLatest,
    /// Comment on it, say whether it helped.
    Respond,
    /// Save a new version; submit it.
    Edit,
    /// Publish or return it.
    Review,
    Delete,
}

/// Published articles are read by whoever reads the space; the rest of an article (its drafts,
/// all its versions) is its author's and the knowledge admins'. Authors edit and submit while
/// they may write in the space; knowledge admins review and edit everything; authors delete
/// what was never published. Nothing changes in an archived space. An article the caller may
/// not see is not found.
pub fn article(facts: ArticleFacts, action: ArticleAction) -> AppResult<()> {
    let admin = facts.level == SpaceLevel::Admin;
    let sees_latest = admin || (facts.author && facts.level >= SpaceLevel::Read);
    let sees = facts.level >= SpaceLevel::Read && (facts.published || sees_latest);
    if !sees {
        return Err(AppError::not_found("no such article"));
    }
    if facts.archived
        && !matches!(
            action,
            ArticleAction::ReadPublished | ArticleAction::ReadLatest
        )
    {
        return Err(archived());
    }
    let writes = facts.author && facts.level >= SpaceLevel::Write;
    match action {
        ArticleAction::ReadPublished | ArticleAction::Respond => Ok(()),
        ArticleAction::ReadLatest if sees_latest => Ok(()),
        ArticleAction::ReadLatest => {
            deny("only its author and the knowledge admins see an article's unpublished versions")
        }
        ArticleAction::Edit if admin || writes => Ok(()),
        ArticleAction::Edit => {
            deny("only its author and the space's knowledge admins change an article")
        }
        ArticleAction::Review if admin => Ok(()),
        ArticleAction::Review => {
            deny("only the space's knowledge admins publish or return articles")
        }
        ArticleAction::Delete if admin || (writes && !facts.published) => Ok(()),
        ArticleAction::Delete => deny(
            "only the space's knowledge admins delete a published article; its author deletes it \
             while it was never published",
        ),
    }
}

/// Creating spaces: admins anywhere; department admins for their department (or those below
/// it) or a topic space.
pub fn create_space(role: Role, department_admin: bool, topic: bool) -> AppResult<()> {
    match role {
        Role::Admin => Ok(()),
        Role::DeptAdmin if department_admin || topic => Ok(()),
        Role::DeptAdmin => deny("a department admin creates spaces for their own departments"),
        _ => deny("only admins and department admins create spaces"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(department_admin: bool, in_audience: bool, named: Option<SpaceRole>) -> SpaceFacts {
        SpaceFacts {
            department_admin,
            in_audience,
            named,
        }
    }

    #[test]
    fn levels_by_role_and_name() {
        use SpaceLevel as L;
        assert_eq!(space(Role::Admin, facts(false, false, None)), L::Admin);
        assert_eq!(space(Role::DeptAdmin, facts(true, true, None)), L::Admin);
        assert_eq!(space(Role::DeptAdmin, facts(false, false, None)), L::None);
        assert_eq!(space(Role::Member, facts(false, true, None)), L::Write);
        assert_eq!(space(Role::Member, facts(false, false, None)), L::None);
        assert_eq!(
            space(Role::Member, facts(false, false, Some(SpaceRole::Reader))),
            L::Read
        );
        assert_eq!(
            space(Role::Member, facts(false, true, Some(SpaceRole::Reader))),
            L::Write
        );
        assert_eq!(
            space(Role::Member, facts(false, false, Some(SpaceRole::Admin))),
            L::Admin
        );
        // Guests read where named, whatever role they are given, and nowhere else.
        assert_eq!(
            space(Role::Guest, facts(false, true, Some(SpaceRole::Admin))),
            L::Read
        );
        assert_eq!(space(Role::Guest, facts(true, true, None)), L::None);
    }

    #[test]
    fn drafts_are_the_authors_and_the_admins() {
        let of = |level, author, published| ArticleFacts {
            level,
            author,
            published,
            archived: false,
        };
        // A reader of the space does not know a draft exists.
        let err = article(
            of(SpaceLevel::Write, false, false),
            ArticleAction::ReadPublished,
        )
        .unwrap_err();
        assert_eq!(err.status.as_u16(), 404);
        assert!(article(of(SpaceLevel::Write, true, false), ArticleAction::Edit).is_ok());
        assert!(article(of(SpaceLevel::Admin, false, false), ArticleAction::Review).is_ok());
        assert!(article(of(SpaceLevel::Write, true, false), ArticleAction::Review).is_err());
        // Published: readers read, cannot see drafts of the next version, cannot edit.
        assert!(article(
            of(SpaceLevel::Read, false, true),
            ArticleAction::ReadPublished
        )
        .is_ok());
        let err =
            article(of(SpaceLevel::Read, false, true), ArticleAction::ReadLatest).unwrap_err();
        assert_eq!(err.status.as_u16(), 403);
        assert!(article(of(SpaceLevel::Write, false, true), ArticleAction::Edit).is_err());
        // Authors delete what was never published; admins anything.
        assert!(article(of(SpaceLevel::Write, true, false), ArticleAction::Delete).is_ok());
        assert!(article(of(SpaceLevel::Write, true, true), ArticleAction::Delete).is_err());
        assert!(article(of(SpaceLevel::Admin, false, true), ArticleAction::Delete).is_ok());
        // An author who lost the space loses the article.
        let err = article(
            of(SpaceLevel::None, true, true),
            ArticleAction::ReadPublished,
        )
        .unwrap_err();
        assert_eq!(err.status.as_u16(), 404);
        // Archived: read-only, even for admins.
        let archived = ArticleFacts {
            archived: true,
            ..of(SpaceLevel::Admin, true, true)
        };
        assert!(article(archived, ArticleAction::ReadLatest).is_ok());
        let err = article(archived, ArticleAction::Edit).unwrap_err();
        assert_eq!(err.status.as_u16(), 409);
    }
}
