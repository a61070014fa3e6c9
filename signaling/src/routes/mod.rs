//! REST handlers, one module per resource. Each handler authenticates (`Caller`), asks
//! `policy` once, and calls storage.

pub mod admin;
pub mod auth;
pub mod bridge;
pub mod call;
pub mod channels;
pub mod departments;
pub mod files;
pub mod folders;
pub mod health;
pub mod knowledge;
pub mod meetings;
pub mod minutes;
pub mod previews;
pub mod recordings;
pub mod rings;
pub mod rooms;
pub mod search;
pub mod tasks;
pub mod uploads;
pub mod users;
pub mod web;
