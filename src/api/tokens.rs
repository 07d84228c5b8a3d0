//! `/tenants/{slug}/tokens`: API tokens. The secret appears once, in the creation response;
//! listings show the `prefix` only.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::ApiJson;
use crate::auth::token::{SecretKind, mint};
use crate::auth::{Authed, need};
use crate::clock::Timestamp;
use crate::domain::{NewToken, Scope, ScopeSet, TokenRecord};
use crate::error::{ApiError, ApiResult};

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
        )
        .await?;
    Ok((record, minted.secret))
}

pub async fn create(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    body: ApiJson<CreateToken>,
) -> ApiResult<HttpResponse> {
    let (record, secret) = issue(&state, auth.tenant(), auth.principal.scopes, body.0).await?;
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
    let revoked = revoke(&state, auth.tenant(), auth.principal.scopes, &path.1).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": revoked.id})))
}

/// Revokes a token of `tenant` for a caller holding `held`. Shared by the API and the
/// dashboard.
pub async fn revoke(
    state: &AppState,
    tenant: &str,
    held: ScopeSet,
    id: &str,
) -> ApiResult<TokenRecord> {
    let target = state
        .store
        .get_token(id)
        .await?
        .filter(|t| t.tenant == tenant)
        .ok_or_else(|| ApiError::not_found("Token"))?;
    // No revoking upwards: a token may only revoke tokens holding no more than it does.
    // Scopes never change after creation, so checking before the write is enough.
    if let Some(missing) = target.scopes.iter().find(|s| !held.grants(*s)) {
        return Err(ApiError::new(
            crate::error::ErrorCode::InsufficientScope,
            format!("Cannot revoke a token holding a scope you lack: {missing}"),
        ));
    }
    Ok(state.store.revoke_token(Some(tenant), id).await?)
}
