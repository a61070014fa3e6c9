//! Id newtypes, so a user id can never be passed where a channel id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A department in the organisation tree.
    DepartmentId
);
id_type!(
    /// A channel: direct, group, announcement or meeting chat.
    ChannelId
);
id_type!(
    /// A message, unique across channels.
    MessageId
);
id_type!(
    /// A meeting (a room, possibly linked to a channel).
    MeetingId
);
id_type!(
    /// An item of a meeting's minutes: a note, a decision or an action item.
    MinuteItemId
);
id_type!(
    /// A tracked task, from an action item, a message or on its own.
    TaskId
);
id_type!(
    /// An entry in a user's notification inbox.
    NotificationId
);
id_type!(
    /// One recording of one meeting, taken by one recorder at a time.
    RecordingJobId
);
id_type!(
    /// One recorded file: a participant's track, or the meeting's mixed audio.
    RecordingId
);
id_type!(
    /// A file: a name with versions, in someone's files or attached to a message.
    FileId
);
id_type!(
    /// A folder of the file library.
    FolderId
);
id_type!(
    /// A space of the knowledge base.
    SpaceId
);
id_type!(
    /// An article of the knowledge base.
    ArticleId
);
id_type!(
    /// A comment on an article.
    ArticleCommentId
);
id_type!(
    /// Someone ringing people into a channel's meeting.
    RingId
);
