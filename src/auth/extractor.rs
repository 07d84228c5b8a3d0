//! The scope-checking guard. A handler for tenant data takes `Authed<need::X>` as its first
//! argument; the extractor resolves the request's credential into a [`Principal`] and checks
//! the tenant in the path and the scope `X` before anything else is extracted.
//!
//! It answers synchronously (credentials live in memory), so actix sees its error before it
//! starts on the body: a caller without the scope gets 403 even for an invalid body.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::Guard;
use super::client_ip::client_ip_text;
use super::credentials::Credential;
use super::rate_limit::Budget;
use super::token::{PREFIX_CHARS, SecretKind, hash_secret, is_well_formed};
use crate::clock::Timestamp;
use crate::domain::scope::{RequiredScope, Scope, ScopeSet};
use crate::domain::{Actor, ActorKind, AuditAction, NewAudit};
use crate::error::ApiError;

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Who is calling: one tenant and the scopes held there.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: String,
    pub scopes: ScopeSet,
    pub credential: Arc<Credential>,
    /// The client address the request came from (`-` when unknown).
    pub ip: String,
}

impl Principal {
    /// Who this is, for the audit log.
    pub fn actor(&self) -> Actor {
        actor_of(Some(&self.credential), None, &self.ip)
    }
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

/// A request from any valid credential of the tenant in the path, whatever its scopes
/// (`GET /tenants/{slug}/tokens/self`).
pub struct AnyScope(pub Principal);

impl FromRequest for AnyScope {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(AnyScope))
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
///
/// The client IP's failed-authentication budget is checked first; a 401 counts against it.
/// 401s and 403s go to the tenant's audit log (bounded, see [`super::denied`]). The
/// credential's rate-limit budget is left in the request's extensions for the
/// `X-RateLimit-*` headers ([`rate_limit_headers`]).
///
/// A route without a `{slug}` (`/tenants`, `/mcp`) acts on the credential's own tenant.
pub fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let path_tenant = req.match_info().get("slug");
    authenticate_for(req, path_tenant)
}

fn authenticate_for(req: &HttpRequest, path_tenant: Option<&str>) -> Result<Principal, ApiError> {
    let guard = req
        .app_data::<web::Data<Guard>>()
        .ok_or_else(|| ApiError::internal("auth::Guard missing from app data"))?;
    let ip = client_ip_text(req, &guard.trusted_proxies);
    guard.refuse_throttled(&ip)?;
    resolve(req, guard, &ip, path_tenant).map_err(|denied| {
        let (error, actor) = *denied;
        if error.status() == StatusCode::UNAUTHORIZED {
            guard.count_failure(&ip);
        }
        record_denied(req, guard, &ip, &error, actor);
        error
    })
}

/// The audit actor of a credential, or of a presented secret that matched none (its prefix
/// only when it is well formed: never any part of a mistyped secret).
fn actor_of(
    credential: Option<&Credential>,
    presented: Option<(SecretKind, &str)>,
    ip: &str,
) -> Actor {
    let ip = Some(ip.to_string());
    match credential {
        Some(c) => Actor {
            kind: if c.token_id().is_some() {
                ActorKind::Token
            } else {
                ActorKind::LegacyKey
            },
            token_id: c.token_id().map(str::to_string),
            prefix: c.prefix().map(str::to_string),
            ip,
        },
        None => Actor {
            kind: ActorKind::Unknown,
            token_id: None,
            prefix: presented
                .filter(|(kind, secret)| is_well_formed(*kind, secret))
                .map(|(_, secret)| secret.chars().take(PREFIX_CHARS).collect()),
            ip,
        },
    }
}

fn record_denied(req: &HttpRequest, guard: &Guard, ip: &str, error: &ApiError, actor: Actor) {
    if !matches!(
        error.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return;
    }
    let Some(tenant) = req.match_info().get("slug") else {
        return;
    };
    let detail = format!(
        "{} {} {} {}",
        error.status().as_u16(),
        error.code.as_str(),
        req.method(),
        req.path()
    );
    guard.denied.record(
        ip,
        tenant,
        NewAudit {
            action: AuditAction::RequestDenied,
            actor,
            target: None,
            detail: Some(detail),
        },
    );
}

/// A refusal and who was refused, for the audit log.
type Denied = Box<(ApiError, Actor)>;

fn resolve(
    req: &HttpRequest,
    guard: &Guard,
    ip: &str,
    path_tenant: Option<&str>,
) -> Result<Principal, Denied> {
    let unknown = |error: ApiError, presented: Option<(SecretKind, &str)>| {
        Box::new((error, actor_of(None, presented, ip)))
    };
    let (kind, secret) = match presented(req) {
        Some(Presented::Bearer(secret)) => (SecretKind::ApiToken, secret),
        Some(Presented::ApiKey(secret)) => (SecretKind::LegacyKey, secret),
        None => return Err(unknown(ApiError::missing_credentials(), None)),
    };
    if !is_well_formed(kind, secret) {
        return Err(unknown(ApiError::invalid_token(), None));
    }
    let hash = hash_secret(secret);
    let now = Timestamp::now();
    let Some(credential) = guard.credentials.get(&hash) else {
        return Err(unknown(ApiError::invalid_token(), Some((kind, secret))));
    };
    let known = |error: ApiError| Box::new((error, actor_of(Some(&credential), None, ip)));
    if credential.is_expired(now) {
        return Err(known(ApiError::token_expired()));
    }
    match guard.rate_limiter.admit(&credential.label()) {
        Ok(None) => {}
        Ok(Some(budget)) => {
            req.extensions_mut().insert(budget);
        }
        Err(budget) => {
            req.extensions_mut().insert(budget);
            return Err(known(ApiError::rate_limited(budget.reset_secs)));
        }
    }
    // The tenant acted on: the path's when the credential reaches it (its own, or a child
    // of its tenant), else the credential's own.
    let tenant = match path_tenant {
        Some(t) if guard.credentials.reaches(&credential.tenant, t) => t.to_string(),
        Some(_) => return Err(known(ApiError::tenant_not_found())),
        None => credential.tenant.clone(),
    };
    credential.touch(now);
    Ok(Principal {
        tenant,
        scopes: credential.scopes,
        ip: ip.to_string(),
        credential,
    })
}

fn authorize(req: &HttpRequest, scope: Scope) -> Result<Principal, ApiError> {
    let principal = authenticate(req)?;
    if principal.scopes.grants(scope) {
        Ok(principal)
    } else {
        let error = ApiError::missing_scope(scope);
        if let Some(guard) = req.app_data::<web::Data<Guard>>() {
            record_denied(req, guard, &principal.ip, &error, principal.actor());
        }
        Err(error)
    }
}

/// Adds `X-RateLimit-Limit`, `-Remaining` and `-Reset` to a response whose request was
/// counted against a credential's budget (success or error alike).
pub fn rate_limit_headers<B>(response: &mut ServiceResponse<B>) {
    let Some(budget) = response.request().extensions().get::<Budget>().copied() else {
        return;
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (X_RATELIMIT_LIMIT, u64::from(budget.limit)),
        (X_RATELIMIT_REMAINING, u64::from(budget.remaining)),
        (X_RATELIMIT_RESET, budget.reset_secs),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}
