//! The error body every REST endpoint returns, and the stable codes clients match on.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, machine-readable error code. Clients match on these; the message is for people.
/// Codes are never renamed once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON.
    MalformedJson,
    /// The body is JSON but names a field the endpoint does not know.
    UnknownField,
    /// The body is JSON of the wrong shape or with a value out of range.
    InvalidInput,
    /// The request needs `Content-Type: application/json` (or another declared type).
    UnsupportedMediaType,
    /// The body is larger than `http.max_body_bytes`.
    PayloadTooLarge,
    /// No access token was presented.
    Unauthenticated,
    /// The token's signature, format or issuer is not valid.
    TokenInvalid,
    /// The token has expired (or is not valid yet).
    TokenExpired,
    /// The token's session was ended by logout, or the refresh token was already used.
    TokenRevoked,
    /// Email and password do not match an active account.
    InvalidCredentials,
    /// The account is disabled.
    AccountDisabled,
    /// The caller's role does not allow this action.
    Forbidden,
    /// The caller's token lacks the grant this action needs, or is of the wrong kind.
    InsufficientGrant,
    /// No such resource (or the caller may not know it exists).
    NotFound,
    /// No such route.
    RouteNotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The resource already exists (for example an email in use).
    Conflict,
    /// An organisation import file was rejected as a whole; `details` lists every bad line.
    ImportRejected,
    /// A dependency (the database, the object store) is unreachable; retry later.
    Unavailable,
    /// WebSocket: the message's `type` is not one this protocol version knows.
    UnknownType,
    /// WebSocket: the frame is larger than `hub.max_frame_bytes`.
    FrameTooLarge,
    /// Too many requests: on the WebSocket, per second from this connection; over REST, failed
    /// sign-ins for this account or from this address. `retry_after` says when to try again.
    RateLimited,
    /// WebSocket: none of the client's protocol versions is spoken here.
    UnsupportedVersion,
    /// WebSocket: the first message must be `hello`.
    HelloRequired,
    /// The caller is not a member of the channel.
    NotMember,
    /// The channel is archived and takes nothing new.
    ChannelArchived,
    /// A recall after the sender's window; admins may recall any time.
    RecallWindowPassed,
    /// WebSocket: the client did not read its messages fast enough and is disconnected; it
    /// recovers everything on reconnect.
    SlowConsumer,
    /// WebSocket: no message or ping within the heartbeat timeout.
    HeartbeatTimeout,
    /// WebSocket: the server is shutting down; reconnect (to another node).
    ServerShutdown,
    /// WebSocket: the account's role or department changed; reconnect to continue with them.
    AccountChanged,
    /// WebSocket: this node lost touch with the cluster for a while; reconnect to catch up.
    Resync,
    /// Meetings: the SDP could not be parsed or does not fit the connection it was sent on.
    InvalidSdp,
    /// Meetings: the offer has no codec Parley forwards (Opus, VP8, H.264).
    NoUsableCodec,
    /// Meetings: the participant already publishes `rtc.max_tracks_per_participant` tracks.
    TooManyTracks,
    /// Meetings: the room has `max_participants` participants.
    RoomFull,
    /// HTTP: the server, or this client address, has as many open connections as allowed
    /// (`http.max_connections`, `http.max_connections_per_ip`); the connection is closed.
    TooManyConnections,
    /// Meetings: `meeting-<n>` and `bridge-<n>` are channel n's meeting room and voice bridge;
    /// only `POST /v1/channels/{n}/meeting` and `/bridge` open them.
    RoomNameReserved,
    /// Files: the upload would take its uploader, or their department, past the quota
    /// (`[files] user_quota_bytes`, `department_quota_bytes`); the message names the limit.
    QuotaExceeded,
    /// Files: the name has a path separator, NUL or another control character, is `.` or
    /// `..`, starts or ends with a space, or is longer than 255 bytes.
    InvalidFileName,
    /// Uploads (tus): `Upload-Offset` is not where the upload stands; `HEAD` it and resume
    /// from the offset it gives.
    UploadOffsetMismatch,
    /// Search: the query cannot be run (an unclosed quote, an unknown `type:`, a date that is
    /// not YYYY-MM-DD, an `in:` or `from:` that names nothing the asker knows, too long); the
    /// message says what to change.
    InvalidQuery,
    /// Something failed inside the server; it is logged there.
    Internal,
}

/// `{"error": {...}}`, the body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Per-item problems, for errors about many items at once (an import file's bad lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorItem>,
    /// Seconds to wait before trying again (`rate_limited`, `unavailable` when busy); also sent
    /// as the `Retry-After` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// One problem in a multi-item request: the 1-based line (or item) number and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorItem {
    pub line: u64,
    pub reason: String,
}
