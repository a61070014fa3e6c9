//! The OpenAPI document, generated from the handlers' annotations and the proto types.

use crate::routes::{
    admin, auth, bridge, call, channels, departments, files, folders, health, knowledge, meetings,
    minutes, previews, recordings, rings, rooms, search, tasks, uploads, users, web,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parley",
        description = "Parley's REST API. Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code.",
    ),
    paths(
        health::healthz, health::readyz, health::metrics, health::openapi,
        auth::login, auth::refresh, auth::logout, auth::whoami,
        users::list, users::get, users::create, users::update, users::avatar, users::set_avatar, users::delete_avatar,
        departments::list, departments::create,
        channels::list, channels::create, channels::get, channels::update, channels::archive,
        channels::members, channels::add_members, channels::messages, channels::receipts, channels::pins, channels::remove_member, channels::browse, channels::join, previews::preview,
        admin::import, admin::create_api_key, admin::list_api_keys, admin::revoke_api_key, admin::stats,
        admin::retention, admin::run_retention, admin::channels, admin::legal_holds, admin::create_legal_hold, admin::remove_legal_hold, admin::backups,
        rooms::create, rooms::list, rooms::get, rooms::end, rooms::participants, rooms::remove_participant,
        rooms::mute, rooms::update_participant, bridge::open, bridge::roster, call::open, call::calls, rings::start, rings::get, rings::answer, rings::cancel,
        meetings::list, meetings::get,
        minutes::get, minutes::update, minutes::add_item, minutes::update_item, minutes::delete_item, minutes::publish,
        tasks::list, tasks::create, tasks::get, tasks::update, tasks::notifications, tasks::mark_read,
        recordings::start, recordings::stop, recordings::list, recordings::get, recordings::media,
        recordings::claim, recordings::heartbeat, recordings::add_file, recordings::file_progress, recordings::finish,
        files::list, files::get, files::versions, files::content, files::thumbnail, files::delete, files::restore,
        files::restore_version, files::lock, files::unlock, files::rename,
        folders::roots, folders::get, folders::channel_folder, folders::department_folder, folders::create,
        folders::update, folders::set_grants, folders::watch, folders::unwatch, folders::trash, folders::audit,
        uploads::plain, uploads::options, uploads::create, uploads::head, uploads::patch, uploads::terminate,
        search::search, search::reindex,
        knowledge::list_spaces, knowledge::create_space, knowledge::get_space, knowledge::update_space,
        knowledge::set_members, knowledge::list_articles, knowledge::create_article, knowledge::list_templates,
        knowledge::get_article, knowledge::update_article, knowledge::delete_article, knowledge::submit,
        knowledge::publish, knowledge::return_article, knowledge::versions, knowledge::diff,
        knowledge::comments, knowledge::add_comment, knowledge::vote, knowledge::unvote, knowledge::recording,
        knowledge::attachment,
        web::sdk,
        web::app_index,
        web::app_file,
        web::service_worker,
    ),
    components(schemas(parley_proto::ErrorBody, parley_proto::ErrorCode, parley_proto::AppClaims, parley_proto::RoomWebhook, parley_proto::Notification, parley_proto::RecordingWebhook, parley_proto::UserCard)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "Sign-in sessions and tokens"),
        (name = "users", description = "The directory: users and departments"),
        (name = "channels", description = "Channels and their members"),
        (name = "admin", description = "Organisation import, API keys, the dashboard, retention, legal holds and backups"),
        (name = "rooms", description = "The room service: meetings and their participants"),
        (name = "meetings", description = "Meetings as they happened: sessions and attendance"),
        (name = "minutes", description = "A meeting's agenda, notes, decisions and action items"),
        (name = "recordings", description = "Meeting recordings, and the recorders' job queue"),
        (name = "tasks", description = "Tasks and reminders, and each user's notification inbox"),
        (name = "files", description = "Files and attachments: uploads (tus 1.0, resumable, or one plain request), versions, downloads, the trash"),
        (name = "knowledge", description = "The knowledge base: spaces, articles with versions, review before publishing, comments, votes, templates"),
        (name = "search", description = "One search over what the caller may read, in Chinese and English"),
        (name = "web", description = "Files for browsers: the web app and the JS SDK"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
