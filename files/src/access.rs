//! Who may do what in the file library: a folder's grants, inherited down the tree with
//! explicit overrides, and the defaults each kind of root gives. Pure: the caller gathers the
//! facts (the folder's chain up to its root, the person's department and channels).

pub use parley_proto::AccessLevel as Level;

/// The roles as the library treats them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Admin,
    DeptAdmin,
    Member,
    Guest,
}

/// Whom a grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(i64),
    /// A department by its path, with every department below it. Guests never match one.
    Department(String),
    /// The members of a channel (guests in it included).
    Channel(i64),
    /// Everyone with this role.
    Role(Standing),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: Subject,
    pub level: Level,
}

/// Whose a tree is: its root decides the defaults and who always manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// One person's files: theirs alone.
    User(i64),
    /// A department's files (by path): its people (and those of the departments below) edit,
    /// the department admins above or at it manage.
    Department(String),
    /// A channel's files: its members edit, its creator manages.
    Channel { id: i64, owner: Option<i64> },
}

/// One folder on the way from the one asked about up to its root.
#[derive(Debug, Clone, Default)]
pub struct FolderRules {
    pub grants: Vec<Grant>,
    /// `false`: nothing above this folder applies (an explicit override of everything).
    pub inherit: bool,
}

/// The person asking.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub id: i64,
    pub standing: Standing,
    pub department: Option<&'a str>,
    /// The channels they are a member of.
    pub channels: &'a [i64],
}

/// `department` is `root` or below it (`HQ/Sales/East` is within `HQ/Sales`).
pub fn within(department: &str, root: &str) -> bool {
    department == root
        || (department.starts_with(root) && department.as_bytes().get(root.len()) == Some(&b'/'))
}

fn matches(person: &Person<'_>, subject: &Subject) -> bool {
    match subject {
        Subject::User(id) => *id == person.id,
        Subject::Department(path) => {
            person.standing != Standing::Guest && person.department.is_some_and(|d| within(d, path))
        }
        Subject::Channel(id) => person.channels.contains(id),
        Subject::Role(standing) => *standing == person.standing,
    }
}

/// What `person` may do in the folder whose chain (the folder first, its root last) is
/// `chain`, in the tree of `root`. The nearest folder with a grant for them decides (the
/// highest of its grants that match, `none` included, so a subfolder can take access away);
/// a folder that does not inherit ends the walk; with no grant found, the root's defaults
/// apply. Admins and the root's managers always manage. Guests get at most `edit`.
pub fn level(person: &Person<'_>, root: &Root, chain: &[FolderRules]) -> Level {
    let manages = match root {
        _ if person.standing == Standing::Admin => true,
        Root::User(owner) => *owner == person.id,
        Root::Department(path) => {
            person.standing == Standing::DeptAdmin
                && person.department.is_some_and(|d| within(path, d))
        }
        Root::Channel { owner, .. } => *owner == Some(person.id),
    };
    if manages {
        return if person.standing == Standing::Guest {
            Level::Edit
        } else {
            Level::Manage
        };
    }
    let mut decided = None;
    let mut inherited = true;
    for folder in chain {
        let found = folder
            .grants
            .iter()
            .filter(|g| matches(person, &g.subject))
            .map(|g| g.level)
            .max();
        if found.is_some() {
            decided = found;
            break;
        }
        if !folder.inherit {
            inherited = false;
            break;
        }
    }
    let level = match decided {
        Some(level) => level,
        None if !inherited => Level::None,
        None => match root {
            Root::User(_) => Level::None,
            Root::Department(path) => {
                if matches(person, &Subject::Department(path.clone())) {
                    Level::Edit
                } else {
                    Level::None
                }
            }
            Root::Channel { id, .. } => {
                if person.channels.contains(id) {
                    Level::Edit
                } else {
                    Level::None
                }
            }
        },
    };
    if person.standing == Standing::Guest {
        level.min(Level::Edit)
    } else {
        level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person<'a>(
        id: i64,
        standing: Standing,
        department: Option<&'a str>,
        channels: &'a [i64],
    ) -> Person<'a> {
        Person {
            id,
            standing,
            department,
            channels,
        }
    }

    fn grant(subject: Subject, level: Level) -> Grant {
        Grant { subject, level }
    }

    fn inherit(grants: Vec<Grant>) -> FolderRules {
        FolderRules {
            grants,
            inherit: true,
        }
    }

    #[test]
    fn roots_give_their_defaults() {
        let finance = Root::Department("HQ/Finance".into());
        let plain = [inherit(vec![])];
        let cases = [
            (
                person(1, Standing::Member, Some("HQ/Finance"), &[]),
                Level::Edit,
            ),
            (
                person(2, Standing::Member, Some("HQ/Finance/Tax"), &[]),
                Level::Edit,
            ),
            (
                person(3, Standing::Member, Some("HQ/Sales"), &[]),
                Level::None,
            ),
            (
                person(4, Standing::Member, Some("HQ/Finance2"), &[]),
                Level::None,
            ),
            (
                person(5, Standing::DeptAdmin, Some("HQ"), &[]),
                Level::Manage,
            ),
            (
                person(6, Standing::DeptAdmin, Some("HQ/Finance/Tax"), &[]),
                Level::Edit,
            ),
            (person(7, Standing::Admin, None, &[]), Level::Manage),
            (
                person(8, Standing::Guest, Some("HQ/Finance"), &[]),
                Level::None,
            ),
        ];
        for (who, expected) in cases {
            assert_eq!(level(&who, &finance, &plain), expected, "person {}", who.id);
        }
        let mine = Root::User(1);
        assert_eq!(
            level(&person(1, Standing::Member, None, &[]), &mine, &plain),
            Level::Manage
        );
        assert_eq!(
            level(&person(1, Standing::Guest, None, &[]), &mine, &plain),
            Level::Edit,
            "a guest never shares or archives, even their own"
        );
        assert_eq!(
            level(&person(2, Standing::Member, None, &[]), &mine, &plain),
            Level::None
        );
        let channel = Root::Channel {
            id: 9,
            owner: Some(1),
        };
        assert_eq!(
            level(&person(2, Standing::Guest, None, &[9]), &channel, &plain),
            Level::Edit
        );
        assert_eq!(
            level(&person(3, Standing::Member, None, &[8]), &channel, &plain),
            Level::None
        );
    }

    #[test]
    fn grants_inherit_down_and_the_nearest_decides() {
        let root = Root::Department("HQ/R&D".into());
        let supplier = person(20, Standing::Guest, None, &[]);
        let sales = person(21, Standing::Member, Some("HQ/Sales"), &[]);
        let engineer = person(22, Standing::Member, Some("HQ/R&D/Platform"), &[]);
        // Shared with the supplier (edit) and sales (view) two levels up.
        let chain = [
            inherit(vec![]),
            inherit(vec![
                grant(Subject::User(20), Level::Manage),
                grant(Subject::Department("HQ/Sales".into()), Level::View),
            ]),
            inherit(vec![]),
        ];
        assert_eq!(
            level(&supplier, &root, &chain),
            Level::Edit,
            "guests stop at edit"
        );
        assert_eq!(level(&sales, &root, &chain), Level::View);
        assert_eq!(level(&engineer, &root, &chain), Level::Edit);
        // An override below takes sales' access away there, and only there.
        let mut below = chain.to_vec();
        below.insert(
            0,
            inherit(vec![grant(
                Subject::Department("HQ/Sales".into()),
                Level::None,
            )]),
        );
        assert_eq!(level(&sales, &root, &below), Level::None);
        assert_eq!(level(&engineer, &root, &below), Level::Edit);
        // A folder that does not inherit is for those it names, and the managers.
        let closed = [
            FolderRules {
                grants: vec![grant(Subject::Role(Standing::Member), Level::View)],
                inherit: false,
            },
            inherit(vec![grant(Subject::User(20), Level::Edit)]),
        ];
        assert_eq!(level(&supplier, &root, &closed), Level::None);
        assert_eq!(level(&sales, &root, &closed), Level::View);
        let head = person(23, Standing::DeptAdmin, Some("HQ/R&D"), &[]);
        assert_eq!(level(&head, &root, &closed), Level::Manage);
        // Channels as subjects.
        let by_channel = [inherit(vec![grant(Subject::Channel(5), Level::View)])];
        assert_eq!(
            level(&person(24, Standing::Guest, None, &[5]), &root, &by_channel),
            Level::View
        );
    }

    #[test]
    fn departments_match_by_whole_parts() {
        assert!(within("HQ/Sales/East", "HQ/Sales"));
        assert!(within("HQ/Sales", "HQ/Sales"));
        assert!(!within("HQ/SalesOps", "HQ/Sales"));
        assert!(!within("HQ", "HQ/Sales"));
    }
}
