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
