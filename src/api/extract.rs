//! Request-body and query-string extractors that fail with the contract's JSON errors:
//! 413 over the body limit, 400 `invalid_json` for broken JSON, 400 `validation_failed`
//! naming the field for well-formed JSON of the wrong shape.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::ApiError;

/// A JSON body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    /// Reads the body up to `max_body_kib` (413 past it) and parses it.
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(1024 * 1024, |s| s.config.max_body_bytes());
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|err| {
                if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(limit)
                } else {
                    ApiError::invalid_request(format!("Could not read request body: {err}"))
                }
            })?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

/// A JSON object and nothing else: serde would read a struct from an array field by field, and
/// `{...} xyz` would pass without the check for trailing input.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid_json("Request body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            let message = strip_position(&inner.to_string());
            if path == "." {
                ApiError::validation("body", message)
            } else {
                ApiError::validation(&path, message)
            }
        } else {
            ApiError::invalid_json(format!(
                "Invalid JSON: {}",
                strip_position(&inner.to_string())
            ))
        }
    })?;
    de.end()
        .map_err(|_| ApiError::invalid_json("Request body has data after the JSON object"))?;
    Ok(value)
}

/// serde's words for the project's: no " at line 1 column 17" (the field name says more) and
/// no Rust type names.
fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    [
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected a string", "expected text"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list"),
    ]
    .iter()
    .fold(message.to_string(), |m, (rust, ours)| m.replace(rust, ours))
}

/// The query string as name -> value; typed accessors give 400s that name the parameter.
pub struct Params(HashMap<String, String>);

impl FromRequest for Params {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            web::Query::<HashMap<String, String>>::from_query(req.query_string())
                .map(|q| Params(q.into_inner()))
                .map_err(|e| ApiError::invalid_request(format!("Invalid query string: {e}"))),
        )
    }
}

impl Params {
    /// Parameters gathered some other way (the dashboard's forms), read with the same rules.
    pub fn new(map: HashMap<String, String>) -> Params {
        Params(map)
    }

    /// Refuses parameters the route does not take: a typo in a filter must not silently
    /// return everything.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        let mut unknown: Vec<&str> = self
            .0
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        unknown.sort_unstable();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::validation(
                name,
                format!(
                    "unknown query parameter; this route takes {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A whole number in `min..=max`, or `default` when absent.
    pub fn int(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ApiError> {
        let Some(raw) = self.str(name) else {
            return Ok(default);
        };
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        }
    }
}

/// `page`/`limit` as the list endpoints take them.
pub struct PageRequest {
    pub page: usize,
    pub limit: usize,
}

impl PageRequest {
    pub fn from_params(params: &Params) -> Result<PageRequest, ApiError> {
        Ok(PageRequest {
            page: params.int("page", 1, 1, 1_000_000)? as usize,
            limit: params.int("limit", 20, 1, 100)? as usize,
        })
    }

    pub fn offset(&self) -> usize {
        (self.page - 1) * self.limit
    }

    pub fn pagination(&self, total: usize) -> super::Pagination {
        super::Pagination {
            page: self.page,
            limit: self.limit,
            total,
            pages: total.div_ceil(self.limit),
        }
    }
}

/// Reads a whole body of at most `limit` bytes (413 past it), for routes with their own limit.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid_request(format!("Could not read request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
