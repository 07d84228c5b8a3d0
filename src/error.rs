//! The one HTTP error type. Every failure a client can see is an `ApiError`: an
//! [`ErrorCode`] (which fixes the status and the machine `code`) and a human message,
//! serialised as `{"error": ..., "code": ...}`. Internal failures are logged here with their
//! context and answered with a generic 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

use crate::domain::Scope;
use crate::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal)),* $(,)?) => {
        /// Every error code a client can meet, with its HTTP status: the one table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    InvalidRequest => (BAD_REQUEST, "invalid_request"),
    InvalidJson => (BAD_REQUEST, "invalid_json"),
    ValidationFailed => (BAD_REQUEST, "validation_failed"),
    MissingCredentials => (UNAUTHORIZED, "missing_credentials"),
    InvalidToken => (UNAUTHORIZED, "invalid_token"),
    TokenExpired => (FORBIDDEN, "token_expired"),
    InsufficientScope => (FORBIDDEN, "insufficient_scope"),
    OriginNotAllowed => (FORBIDDEN, "origin_not_allowed"),
    TenantInactive => (FORBIDDEN, "tenant_inactive"),
    QuotaExceeded => (FORBIDDEN, "quota_exceeded"),
    NotFound => (NOT_FOUND, "not_found"),
    TenantNotFound => (NOT_FOUND, "tenant_not_found"),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed"),
    Conflict => (CONFLICT, "conflict"),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "payload_too_large"),
    RateLimited => (TOO_MANY_REQUESTS, "rate_limited"),
    Internal => (INTERNAL_SERVER_ERROR, "internal"),
    Unavailable => (SERVICE_UNAVAILABLE, "unavailable"),
    RequestTimeout => (REQUEST_TIMEOUT, "request_timeout"),
    ConversationFull => (CONFLICT, "conversation_full"),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for `Retry-After` on 429 and 503 answers.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn missing_credentials() -> Self {
        Self::new(ErrorCode::MissingCredentials, "Unauthorized")
    }

    pub fn invalid_token() -> Self {
        Self::new(ErrorCode::InvalidToken, "Unauthorized")
    }

    pub fn token_expired() -> Self {
        Self::new(ErrorCode::TokenExpired, "Token expired")
    }

    pub fn missing_scope(scope: Scope) -> Self {
        Self::new(
            ErrorCode::InsufficientScope,
            format!("Missing required scope: {}", scope.as_str()),
        )
    }

    pub fn cannot_grant(scope: Scope) -> Self {
        Self::new(
            ErrorCode::InsufficientScope,
            format!("Cannot grant scope not held: {}", scope.as_str()),
        )
    }

    pub fn tenant_not_found() -> Self {
        Self::new(ErrorCode::TenantNotFound, "Tenant not found")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(ErrorCode::RateLimited, "Rate limit exceeded")
        }
    }

    /// A field broke a rule; the message names both so a client can fix its request.
    pub fn validation(field: &str, rule: impl fmt::Display) -> Self {
        Self::new(ErrorCode::ValidationFailed, format!("{field}: {rule}"))
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidJson, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "Request body is larger than the limit of {} KiB",
                limit_bytes / 1024
            ),
        )
    }

    /// Logs `context` (never shown to the client) and answers a generic 500.
    pub fn internal(context: impl fmt::Display) -> Self {
        log::error!("internal error: {context}");
        Self::new(ErrorCode::Internal, "Internal server error")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code.as_str(),
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        if self.code.status() == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody {
            error: &self.message,
            code: self.code.as_str(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound("Tenant") => ApiError::tenant_not_found(),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Invalid { field, rule } => ApiError::validation(&field, rule),
            StoreError::Unavailable(reason) => {
                log::warn!("store unavailable: {reason}");
                ApiError {
                    retry_after: Some(5),
                    ..ApiError::new(
                        ErrorCode::Unavailable,
                        "The service cannot take this request now; try again shortly",
                    )
                }
            }
            internal @ StoreError::Internal(_) => ApiError::internal(internal),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} repeated");
            assert!(code.status().as_u16() >= 400);
        }
    }

    #[test]
    fn store_refusals_become_client_errors() {
        let e = ApiError::from(StoreError::NotFound("Segment"));
        assert_eq!(
            (e.status().as_u16(), e.message.as_str()),
            (404, "Segment not found")
        );
        let e = ApiError::from(StoreError::invalid("segment", "no segment 'x'"));
        assert_eq!(e.message, "segment: no segment 'x'");
        assert_eq!(
            ApiError::from(StoreError::NotFound("Tenant")).code,
            ErrorCode::TenantNotFound
        );
        let e = ApiError::from(StoreError::internal_msg("disk on fire"));
        assert_eq!(e.message, "Internal server error");
    }
}
