//! Parley's search: one index per node (tantivy, embedded in the data folder) over what people
//! write, segmented for Chinese by jieba and stemmed for English; the query language of the
//! search box; and the follower that feeds the index from the database after delivery.
//!
//! Who may see a result is decided by the caller, fresh for every search, and given to the
//! index as the places to look in: the index itself knows nothing of permissions.

mod analyzer;
mod follower;
mod index;
mod query;

pub use analyzer::words;
pub use follower::{
    article_document, file_document, message_document, minutes_document, task_document,
    FollowError, Follower, Pass,
};
pub use index::{
    Cursors, Document, Hit, Opened, Page, Position, Request, SearchError, SearchIndex, Segment,
};
pub use query::{parse, Clause, Day, Kind, Query, QueryError, MAX_CLAUSES, MAX_QUERY_BYTES};
