//! `/tenants/{slug}/tokens`: API tokens. The secret appears once, in the creation response;
//! listings show the `prefix` only.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::scope::{Scope, ScopeSet};
use crate::auth::{Authed, need};
use crate::clock::{now_ms, parse_rfc3339, to_rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::store::tokens::TokenRecord;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    id: String,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
            created_at: to_rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(to_rfc3339),
            expires_at: t.expires_at.map(to_rfc3339),
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
    scopes: Vec<String>,
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

/// A validated creation request.
struct NewToken {
    name: String,
    scopes: ScopeSet,
    expires_at: Option<i64>,
}

impl CreateToken {
    fn validate(self, now: i64) -> Result<NewToken, ApiError> {
        let name = self
            .name
            .map(|n| n.trim().to_string())
            .ok_or_else(|| ApiError::validation("name", "is required"))?;
        if !(1..=100).contains(&name.chars().count()) {
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
                let at = parse_rfc3339(&text).ok_or_else(|| {
                    ApiError::validation(
                        "expiresAt",
                        "must be an RFC 3339 timestamp like 2030-01-15T10:30:00Z",
                    )
                })?;
                if at <= now {
                    return Err(ApiError::validation("expiresAt", "must be in the future"));
                }
                Some(at)
            }
        };
        Ok(NewToken {
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
    let tenant = auth.tenant().to_string();
    let tokens = state
        .store
        .blocking(move |s| s.list_tokens(Some(&tenant)))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "tokens": tokens.into_iter().map(TokenView::from).collect::<Vec<_>>(),
    })))
}

pub async fn create(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    body: ApiJson<CreateToken>,
) -> ApiResult<HttpResponse> {
    let request = body.0.validate(now_ms())?;
    // No privilege escalation: every scope granted must be held by the caller.
    if let Some(missing) = request
        .scopes
        .iter()
        .find(|s| !auth.principal.scopes.grants(*s))
    {
        return Err(ApiError::cannot_grant(missing));
    }
    let tenant = auth.tenant().to_string();
    let minted = state
        .store
        .blocking(move |s| {
            s.create_token(&tenant, &request.name, request.scopes, request.expires_at)
        })
        .await?;
    let record = minted.record;
    Ok(HttpResponse::Created().json(CreatedToken {
        id: record.id,
        name: record.name,
        token: minted.secret,
        prefix: record.prefix,
        scopes: record.scopes,
        created_at: to_rfc3339(record.created_at),
        expires_at: record.expires_at.map(to_rfc3339),
    }))
}

pub async fn delete(
    auth: Authed<need::TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let id = path.into_inner().1;
    let revoked = state
        .store
        .blocking(move |s| s.revoke_token(Some(&tenant), &id))
        .await?
        .ok_or_else(|| ApiError::not_found("Token"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": revoked.id})))
}
