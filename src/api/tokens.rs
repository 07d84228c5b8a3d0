//! `/tenants/{slug}/tokens`: API tokens. The secret appears once, in the creation response;
//! listings show the `prefix` only.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::ApiJson;
use crate::auth::credentials::CredentialKind;
use crate::auth::token::{SecretKind, mint};
use crate::auth::{AnyScope, Authed, need};
use crate::clock::Timestamp;
use crate::domain::{Actor, NewSecret, NewToken, Scope, ScopeSet, TokenRecord};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The longest grace period of a rotation: 30 days.
pub const MAX_GRACE_SECS: i64 = 30 * 24 * 3600;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    id: String,
    name: String,
    prefix: String,
    scopes: ScopeSet,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
}

impl TokenView {
    fn new(t: TokenRecord, last_used: Option<Timestamp>) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
            created_at: t.created_at.to_rfc3339(),
            last_used_at: last_used.map(Timestamp::to_rfc3339),
            expires_at: t.expires_at.map(Timestamp::to_rfc3339),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedToken {
    id: String,
    name: String,
    token: String,
    prefix: String,
    scopes: ScopeSet,
    created_at: String,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateToken {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    expires_at: Option<String>,
}

impl CreateToken {
    /// A request from the dashboard's form, validated like the API's body.
    pub fn new(name: String, scopes: Vec<String>, expires_at: Option<String>) -> Self {
        CreateToken {
            name: Some(name),
            scopes: Some(scopes),
            expires_at,
        }
    }
}

/// A validated creation request.
struct Requested {
    name: String,
    scopes: ScopeSet,
    expires_at: Option<Timestamp>,
}

impl CreateToken {
    fn validate(self, now: Timestamp) -> Result<Requested, ApiError> {
        let sent = self
            .name
            .ok_or_else(|| ApiError::validation("name", "is required"))?;
        let name = sent.trim().to_string();
        if name.is_empty() || sent.chars().count() > 100 {
            return Err(ApiError::validation("name", "must be 1 to 100 characters"));
        }
        let names = self
            .scopes
            .ok_or_else(|| ApiError::validation("scopes", "is required"))?;
        if names.is_empty() {
            return Err(ApiError::validation("scopes", "must not be empty"));
        }
        let scopes = ScopeSet::parse(names.iter().map(String::as_str)).map_err(|unknown| {
            ApiError::validation(
                "scopes",
                format!(
                    "unknown scope '{unknown}'; valid scopes are: {}",
                    Scope::valid_names()
                ),
            )
        })?;
        let expires_at = match self.expires_at {
            None => None,
            Some(text) => {
                let at = Timestamp::parse_api(&text).ok_or_else(|| {
                    ApiError::validation(
                        "expiresAt",
                        "must be an RFC 3339 timestamp like 2030-01-15T10:30:00Z or a date like 2030-01-15",
                    )
                })?;
                if at <= now {
                    return Err(ApiError::validation("expiresAt", "must be in the future"));
                }
                Some(at)
            }
        };
        Ok(Requested {
            name,
            scopes,
            expires_at,
        })
    }
}

pub async fn list(
    auth: Authed<need::TokensRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let tokens = state.store.list_tokens(Some(auth.tenant())).await?;
    let views: Vec<TokenView> = tokens
        .into_iter()
        .map(|t| {
            let last_used = state.credentials.last_used_of(&t);
            TokenView::new(t, last_used)
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tokens": views })))
}

/// Validates a creation request from a caller holding `held` and stores the new token:
/// the record and the secret, which exists nowhere else. Shared by the API and the dashboard.
pub async fn issue(
    state: &AppState,
    tenant: &str,
    held: ScopeSet,
    by: Actor,
    request: CreateToken,
) -> ApiResult<(TokenRecord, String)> {
    let request = request.validate(Timestamp::now())?;
    // No privilege escalation: every scope granted must be held by the caller.
    if let Some(missing) = request.scopes.iter().find(|s| !held.grants(*s)) {
        return Err(ApiError::cannot_grant(missing));
    }
    let minted = mint(SecretKind::ApiToken);
    let record = state
        .store
        .create_token(
            tenant,
            NewToken {
                name: request.name,
                scopes: request.scopes,
                hash: minted.hash,
                prefix: minted.prefix,
                expires_at: request.expires_at,
            },
            by,
        )
        .await?;
    Ok((record, minted.secret))
}

pub async fn create(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    body: ApiJson<CreateToken>,
) -> ApiResult<HttpResponse> {
    let (record, secret) = issue(
        &state,
        auth.tenant(),
        auth.principal.scopes,
        auth.principal.actor(),
        body.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        id: record.id,
        name: record.name,
        token: secret,
        prefix: record.prefix,
        scopes: record.scopes,
        created_at: record.created_at.to_rfc3339(),
        expires_at: record.expires_at.map(Timestamp::to_rfc3339),
    }))
}

pub async fn delete(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let revoked = revoke(
        &state,
        auth.tenant(),
        auth.principal.scopes,
        auth.principal.actor(),
        &path.1,
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": revoked.id})))
}

/// Revokes a token of `tenant` for a caller holding `held`. Shared by the API and the
/// dashboard.
pub async fn revoke(
    state: &AppState,
    tenant: &str,
    held: ScopeSet,
    by: Actor,
    id: &str,
) -> ApiResult<TokenRecord> {
    not_upwards(state, tenant, held, id, "revoke").await?;
    Ok(state.store.revoke_token(Some(tenant), id, by).await?)
}

/// The token `id` of `tenant`, if a caller holding `held` may act on it: a token may only
/// revoke or rotate tokens holding no more than it does (403 otherwise). Scopes never change
/// after creation (a rotation keeps them), so checking before the write is enough.
async fn not_upwards(
    state: &AppState,
    tenant: &str,
    held: ScopeSet,
    id: &str,
    verb: &str,
) -> ApiResult<TokenRecord> {
    let target = state
        .store
        .get_token(id)
        .await?
        .filter(|t| t.tenant == tenant)
        .ok_or_else(|| ApiError::not_found("Token"))?;
    if let Some(missing) = target.scopes.iter().find(|s| !held.grants(*s)) {
        return Err(ApiError::new(
            ErrorCode::InsufficientScope,
            format!("Cannot {verb} a token holding a scope you lack: {missing}"),
        ));
    }
    Ok(target)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateToken {
    grace_seconds: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RotatedToken {
    id: String,
    name: String,
    token: String,
    prefix: String,
    scopes: ScopeSet,
    created_at: String,
    expires_at: Option<String>,
    /// Until when the previous secret still works (null: it stopped at once).
    previous_valid_until: Option<String>,
}

/// `POST /tenants/{slug}/tokens/{id}/rotate`: a new secret for the same token (same id,
/// name, scopes and expiry), shown once; the previous one works for `graceSeconds` more.
/// An empty body means no grace.
pub async fn rotate(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = super::extract::read_body(payload, state.config.max_body_bytes()).await?;
    let request: RotateToken = if body.iter().all(u8::is_ascii_whitespace) {
        RotateToken::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let grace = request.grace_seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_SECS).contains(&grace) {
        return Err(ApiError::validation(
            "graceSeconds",
            format!("must be a whole number of seconds from 0 to {MAX_GRACE_SECS} (30 days)"),
        ));
    }
    let id = &path.1;
    let target = not_upwards(&state, auth.tenant(), auth.principal.scopes, id, "rotate").await?;
    // A rotation keeps the expiry: a new secret for an expired token would be born dead.
    if target.expires_at.is_some_and(|at| at <= Timestamp::now()) {
        return Err(ApiError::conflict(
            "Token has expired; create a new one instead of rotating it",
        ));
    }
    let minted = mint(SecretKind::ApiToken);
    let record = state
        .store
        .rotate_token(
            auth.tenant(),
            id,
            NewSecret {
                hash: minted.hash,
                prefix: minted.prefix,
            },
            grace,
            auth.principal.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(RotatedToken {
        previous_valid_until: record.grace.as_ref().map(|g| g.until.to_rfc3339()),
        id: record.id,
        name: record.name,
        token: minted.secret,
        prefix: record.prefix,
        scopes: record.scopes,
        created_at: record.created_at.to_rfc3339(),
        expires_at: record.expires_at.map(Timestamp::to_rfc3339),
    }))
}

/// `GET /tenants/{slug}/tokens/self`: the calling credential, any scope. A token gets its
/// listing entry; the legacy key (which has no record) gets `id`, `prefix`, `createdAt` and
/// `expiresAt` null, the name "Legacy API key" and the scope `*`.
pub async fn whoami(caller: AnyScope, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let credential = &caller.0.credential;
    let view = match &credential.kind {
        CredentialKind::Token { id, .. } => {
            let record = state
                .store
                .get_token(id)
                .await?
                .ok_or_else(|| ApiError::not_found("Token"))?;
            serde_json::to_value(TokenView::new(record, credential.last_used()))
                .map_err(ApiError::internal)?
        }
        CredentialKind::LegacyKey => serde_json::json!({
            "id": null,
            "name": "Legacy API key",
            "prefix": null,
            "scopes": credential.scopes,
            "createdAt": null,
            "lastUsedAt": credential.last_used().map(Timestamp::to_rfc3339),
            "expiresAt": null,
        }),
    };
    Ok(HttpResponse::Ok().json(view))
}
