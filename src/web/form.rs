//! Form bodies as name/value pairs (checkbox groups repeat a name), and form errors shown
//! beside their fields.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::WebError;
use crate::error::{ApiError, ErrorCode};

/// An `application/x-www-form-urlencoded` body.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, or "" when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn csrf(&self) -> Option<&str> {
        self.get("csrf")
    }
}

impl FromRequest for FormData {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            form.await
                .map(|f| FormData(f.into_inner()))
                .map_err(|e| WebError::BadRequest(format!("The form could not be read: {e}")))
        })
    }
}

/// A refused form: the message for each field (`""` for the form as a whole).
#[derive(Default, Debug)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn general(&self) -> Option<&str> {
        self.of("")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A validation error (`field: rule`) goes beside its field; others head the form.
    /// Failures that are not about the input are passed on as pages.
    pub fn from_api(e: ApiError) -> Result<FieldErrors, WebError> {
        match e.code {
            ErrorCode::ValidationFailed => {
                let (field, rule) = e
                    .message
                    .split_once(": ")
                    .map_or(("", e.message.as_str()), |(f, r)| (f, r));
                // `tags[2]` is shown beside the tags field.
                let field = field.split('[').next().unwrap_or(field);
                Ok(FieldErrors(vec![(field.to_string(), rule.to_string())]))
            }
            ErrorCode::Conflict | ErrorCode::InvalidRequest | ErrorCode::InsufficientScope => {
                Ok(FieldErrors(vec![(String::new(), e.message)]))
            }
            _ => Err(e.into()),
        }
    }
}
