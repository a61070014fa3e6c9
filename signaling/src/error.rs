//! `AppError`, the one error type of the HTTP edge. It turns into `{"error": {...}}` with a
//! stable code and the right status; internal causes are logged, never returned.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parley_proto::{ErrorBody, ErrorCode, ErrorDetail, ErrorItem};
use parley_storage::{ObjectError, StoreError};
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<ErrorItem>,
    /// Seconds until a retry may succeed: the body's `retry_after` and the `Retry-After` header.
    pub retry_after: Option<u64>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Too many attempts: come back in `after` (rounded up to whole seconds, at least one).
    pub fn rate_limited(message: impl Into<String>, after: std::time::Duration) -> AppError {
        AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
        )
        .retry_after(after)
    }

    pub fn retry_after(mut self, after: std::time::Duration) -> AppError {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidInput,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, what)
    }

    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// An unexpected failure: logged here with its cause chain, reported as `internal`.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> AppError {
        tracing::error!(error = %chain(err), "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }

    pub fn unavailable(what: &str, err: &(dyn std::error::Error + 'static)) -> AppError {
        tracing::warn!(error = %chain(err), "{what} unavailable");
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("the {what} is unavailable; nothing was changed, retry later"),
        )
    }
}

/// `outer: inner: innermost`, the whole cause chain on one line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
                retry_after: self.retry_after,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::not_found("not found"),
            StoreError::Conflict(message) => {
                AppError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
            }
            StoreError::Invalid(message) => AppError::invalid(message),
            StoreError::Unavailable(_) => AppError::unavailable("database", &err),
            other => AppError::internal(&other),
        }
    }
}

impl From<ObjectError> for AppError {
    fn from(err: ObjectError) -> Self {
        match err {
            ObjectError::NotFound(key) => AppError::not_found(format!("object {key} not found")),
            ObjectError::InvalidKey { .. } => AppError::invalid(err.to_string()),
            other => AppError::unavailable("object store", &other),
        }
    }
}

/// `axum::Json`, with every way a body can be wrong mapped to its own code.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonSyntaxError(_) => {
            AppError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, text)
        }
        JsonRejection::JsonDataError(_) if text.contains("unknown field") => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownField,
            text,
        ),
        JsonRejection::JsonDataError(_) => AppError::invalid(text),
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(r) => body_rejection(r.status(), r.body_text()),
        other => AppError::new(other.status(), ErrorCode::InvalidInput, text),
    }
}

/// A body that could not be read: too large, or cut off.
pub fn body_rejection(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            status,
            ErrorCode::PayloadTooLarge,
            "request body is larger than http.max_body_bytes",
        )
    } else {
        AppError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, text)
    }
}
