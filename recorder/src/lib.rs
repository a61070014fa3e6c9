//! The meeting recorder (`parley-recorder`): joins meetings as a hidden participant and writes
//! tracks to the object store.
//!
//! Filled by the recorder issue; nothing here yet.
