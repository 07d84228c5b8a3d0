//! The scope-checking guard. A handler for tenant data takes `Authed<need::X>` as its first
//! argument; the extractor resolves the request's credential into a [`Principal`] and checks
//! the tenant in the path and the scope `X` before anything else is extracted.
//!
//! It answers synchronously (credentials live in memory), so actix sees its error before it
//! starts on the body: a caller without the scope gets 403 even for an invalid body.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderName};
use actix_web::{FromRequest, HttpRequest, web};

use super::Guard;
use super::credentials::Credential;
use super::token::{SecretKind, hash_secret, is_well_formed};
use crate::clock::Timestamp;
use crate::domain::scope::{RequiredScope, Scope, ScopeSet};
use crate::error::ApiError;

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Who is calling: one tenant and the scopes held there.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: String,
    pub scopes: ScopeSet,
    pub credential: Arc<Credential>,
}

/// A request proven to come from a credential of the tenant in the path that holds `S`.
pub struct Authed<S: RequiredScope> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> Authed<S> {
    pub fn tenant(&self) -> &str {
        &self.principal.tenant
    }
}

impl<S: RequiredScope> FromRequest for Authed<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, S::SCOPE).map(|principal| Authed {
            principal,
            _scope: PhantomData,
        }))
    }
}

/// The secret a request presents. Query strings are deliberately never consulted: URLs end
/// up in logs, histories and Referer headers.
enum Presented<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
}

fn presented(req: &HttpRequest) -> Option<Presented<'_>> {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    if let Some(token) = bearer {
        return Some(Presented::Bearer(token));
    }
    req.headers()
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(|key| Presented::ApiKey(key.trim()))
}

/// Resolves the request's credential into a principal for the tenant in the path.
pub fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let path_tenant = req.match_info().get("slug").unwrap_or_default();
    authenticate_for(req, Some(path_tenant))
}

/// For routes whose tenant is the credential's own (the MCP endpoint has no tenant in its
/// path): the same checks, without the path comparison.
pub fn authenticate_own_tenant(req: &HttpRequest) -> Result<Principal, ApiError> {
    authenticate_for(req, None)
}

fn authenticate_for(req: &HttpRequest, path_tenant: Option<&str>) -> Result<Principal, ApiError> {
    let guard = req
        .app_data::<web::Data<Guard>>()
        .ok_or_else(|| ApiError::internal("auth::Guard missing from app data"))?;
    let (kind, secret) = match presented(req).ok_or_else(ApiError::missing_credentials)? {
        Presented::Bearer(secret) => (SecretKind::ApiToken, secret),
        Presented::ApiKey(secret) => (SecretKind::LegacyKey, secret),
    };
    if !is_well_formed(kind, secret) {
        return Err(ApiError::invalid_token());
    }
    let credential = guard
        .credentials
        .get(&hash_secret(secret))
        .ok_or_else(ApiError::invalid_token)?;
    let now = Timestamp::now();
    if credential.is_expired(now) {
        return Err(ApiError::token_expired());
    }
    guard.rate_limiter.check(&credential.label())?;
    if path_tenant.is_some_and(|t| t != credential.tenant) {
        return Err(ApiError::tenant_not_found());
    }
    credential.touch(now);
    Ok(Principal {
        tenant: credential.tenant.clone(),
        scopes: credential.scopes,
        credential,
    })
}

fn authorize(req: &HttpRequest, scope: Scope) -> Result<Principal, ApiError> {
    let principal = authenticate(req)?;
    if principal.scopes.grants(scope) {
        Ok(principal)
    } else {
        Err(ApiError::missing_scope(scope))
    }
}
