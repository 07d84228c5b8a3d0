//! Dashboard sessions: the cookie, its checks on every request, and CSRF tokens.
//!
//! The cookie holds a random `as_...` secret; the store keeps only its BLAKE3 hash. Every
//! request re-checks the session (idle and absolute expiry) and the API token it was opened
//! with, in the in-memory credential table: a revoked or expired token ends its sessions at
//! once. API credentials (Authorization, X-API-Key) are never read here.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};

use super::WebError;
use crate::api::AppState;
use crate::auth::client_ip_text;
use crate::auth::token::{SecretKind, hash_secret, hex, is_well_formed, parse_hex};
use crate::clock::Timestamp;
use crate::domain::Session;
use crate::domain::scope::{RequiredScope, Scope, ScopeSet};
use crate::domain::{Actor, ActorKind};

pub const COOKIE_NAME: &str = "animam_session";
const COOKIE_PATH: &str = "/dashboard";

/// What a page needs of the session: a scope, or only to be signed in ([`Signed`]).
pub trait PageNeed {
    const SCOPE: Option<Scope>;
}

impl<T: RequiredScope> PageNeed for T {
    const SCOPE: Option<Scope> = Some(T::SCOPE);
}

/// Any signed-in session of the tenant in the path.
pub struct Signed;

impl PageNeed for Signed {
    const SCOPE: Option<Scope> = None;
}

/// A request from a live session of the tenant in the path, holding what `N` needs.
pub struct Dash<N: PageNeed = Signed> {
    pub tenant: String,
    pub scopes: ScopeSet,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Who acts through this session, for the audit log.
    pub actor: Actor,
    _need: PhantomData<N>,
}

impl<N: PageNeed> Dash<N> {
    pub fn can(&self, scope: Scope) -> bool {
        self.scopes.grants(scope)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), WebError> {
        csrf_matches(&self.csrf, sent)
    }
}

/// Compares a sent CSRF token with the expected one, as hashes: equal-time regardless of
/// where the strings differ.
pub fn csrf_matches(expected: &str, sent: Option<&str>) -> Result<(), WebError> {
    let sent = sent.unwrap_or_default();
    if blake3::hash(sent.as_bytes()) == blake3::hash(expected.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

/// The CSRF token of a session, derived from its secret (so nothing more is stored).
pub fn csrf_of(secret: &str) -> String {
    hex(&blake3::derive_key(
        "animam dashboard 2026 csrf",
        secret.as_bytes(),
    ))
}

pub fn session_cookie(secret: String, secure: bool, max_age_secs: u32) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, secret)
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(i64::from(
            max_age_secs,
        )))
        .finish()
}

/// Tells the browser to drop the cookie.
pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE_NAME, "")
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    cookie.make_removal();
    cookie
}

/// The session secret the request's cookie carries, if well formed.
pub fn presented(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE_NAME)
        .map(|c| c.value().to_string())
        .filter(|v| is_well_formed(SecretKind::Session, v))
}

/// Refuses a state-changing request another site made a browser send. SameSite=Strict keeps
/// the cookie off such requests already; this covers the sign-in form too.
pub fn same_origin(req: &HttpRequest) -> Result<(), WebError> {
    let headers = req.headers();
    // Browsers say where a request comes from: trust that first.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(WebError::Csrf),
        };
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            if origin_host.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(WebError::Csrf)
            }
        }
        _ => Ok(()),
    }
}

/// The live session behind `secret`, with the scopes its token holds now; ends (deletes)
/// a session found over or whose token is gone.
pub async fn resolve(state: &AppState, secret: &str) -> Result<Session, WebError> {
    let key = hex(&hash_secret(secret));
    let session = state
        .store
        .get_session(&key)
        .await?
        .ok_or(WebError::SignIn(None))?;
    let now = Timestamp::now();
    let idle = i64::from(state.config.dashboard.session_idle_secs);
    let live_token = parse_hex(&session.token_hash)
        .and_then(|hash| state.credentials.get(&hash))
        .filter(|c| c.token_id() == Some(session.token_id.as_str()) && !c.is_expired(now));
    let ended = if session.is_over(now, idle) {
        Some("expired")
    } else if live_token.is_none() {
        Some("token")
    } else {
        None
    };
    if let Some(reason) = ended {
        state.store.delete_session(&key).await?;
        return Err(WebError::SignIn(Some(reason)));
    }
    // Moving the idle deadline is a write: done at most every 1/20 of the idle time (and at
    // least every minute), not on every request.
    let step = (idle / 20).clamp(0, 60);
    if now >= session.last_seen_at.plus_secs(step) {
        state.store.touch_session(&key, now).await?;
    }
    let mut session = session;
    if let Some(credential) = live_token {
        session.scopes = credential.scopes;
    }
    Ok(session)
}

impl<N: PageNeed + 'static> FromRequest for Dash<N> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(WebError::Internal)?
                .clone();
            let secret = presented(&req).ok_or(WebError::SignIn(None))?;
            // Every state-changing page request must come from the dashboard itself.
            if req.method() != Method::GET && req.method() != Method::HEAD {
                same_origin(&req)?;
            }
            let session = resolve(&state, &secret).await?;
            let slug = req.match_info().get("slug").unwrap_or_default();
            if session.tenant != slug {
                return Err(WebError::NotFound("This page does not exist.".into()));
            }
            if let Some(scope) = N::SCOPE
                && !session.scopes.grants(scope)
            {
                return Err(WebError::Forbidden(format!("It needs the scope {scope}.")));
            }
            let actor = Actor {
                kind: ActorKind::Dashboard,
                token_id: Some(session.token_id.clone()),
                prefix: None,
                ip: Some(client_ip_text(&req, &state.config.trusted_proxies)),
            };
            Ok(Dash {
                tenant: session.tenant,
                scopes: session.scopes,
                csrf: csrf_of(&secret),
                actor,
                _need: PhantomData,
            })
        })
    }
}
