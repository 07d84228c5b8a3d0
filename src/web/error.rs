//! Dashboard failures, answered as HTML pages (never JSON, never a stack of errors).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use super::layout;
use super::session;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug)]
pub enum WebError {
    /// No valid session: back to the sign-in form (with the reason, if one is worth telling).
    SignIn(Option<&'static str>),
    /// Signed in, but the session's token lacks what the page needs.
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    MethodNotAllowed,
    /// A form whose CSRF token is missing or wrong, or posted from another site.
    Csrf,
    Throttled(u64),
    Unavailable,
    /// Logged where it happened; the page says only that something went wrong.
    Internal,
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e.code {
            ErrorCode::NotFound | ErrorCode::TenantNotFound => WebError::NotFound(e.message),
            ErrorCode::InsufficientScope => WebError::Forbidden(e.message),
            ErrorCode::RateLimited => WebError::Throttled(e.retry_after.unwrap_or(60)),
            ErrorCode::Unavailable => WebError::Unavailable,
            ErrorCode::Internal => WebError::Internal,
            ErrorCode::MissingCredentials | ErrorCode::InvalidToken | ErrorCode::TokenExpired => {
                WebError::SignIn(None)
            }
            _ => WebError::BadRequest(e.message),
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignIn(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WebError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, text) = match self {
            WebError::SignIn(reason) => {
                let location = match reason {
                    Some(code) => format!("/dashboard?ended={code}"),
                    None => "/dashboard".to_string(),
                };
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .cookie(session::removal_cookie())
                    .finish();
            }
            WebError::Forbidden(why) => (
                "Not allowed",
                format!(
                    "Your token does not allow this page. {why} Sign in with a token that holds the scope, or ask an administrator for one."
                ),
            ),
            WebError::NotFound(what) => ("Not found", what.clone()),
            WebError::BadRequest(why) => ("Request refused", why.clone()),
            WebError::MethodNotAllowed => (
                "Not allowed",
                "This address does not take that kind of request.".to_string(),
            ),
            WebError::Csrf => (
                "Form expired",
                "This form was not sent from this dashboard session (its security token is missing or stale). Go back, reload the page and try again.".to_string(),
            ),
            WebError::Throttled(secs) => (
                "Too many attempts",
                format!("Too many sign-in attempts from your address. Try again in {secs} s."),
            ),
            WebError::Unavailable => (
                "Unavailable",
                "The server cannot take changes right now. Try again in a moment.".to_string(),
            ),
            WebError::Internal => (
                "Something went wrong",
                "The server failed to do this; the details are in its log.".to_string(),
            ),
        };
        let mut builder = HttpResponse::build(self.status_code());
        if let WebError::Throttled(secs) = self {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        builder
            .content_type("text/html; charset=utf-8")
            .body(layout::message_page(title, &text).into_string())
    }
}
