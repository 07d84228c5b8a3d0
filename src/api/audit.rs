//! `GET /tenants/{slug}/audit`: the tenant's audit log, newest first, paginated.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::extract::{PageRequest, Params};
use crate::auth::{Authed, need};
use crate::domain::{Actor, AuditAction, AuditEntry};
use crate::error::ApiResult;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditView {
    id: String,
    at: String,
    action: AuditAction,
    actor: Actor,
    target: Option<String>,
    detail: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            at: e.at.to_rfc3339(),
            action: e.action,
            actor: e.actor,
            target: e.target,
            detail: e.detail,
        }
    }
}

pub async fn list(
    auth: Authed<need::TokensRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["page", "limit"])?;
    let page = PageRequest::from_params(&params)?;
    let (entries, total) = state
        .store
        .list_audit(auth.tenant(), page.offset(), page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "entries": entries.into_iter().map(AuditView::from).collect::<Vec<_>>(),
        "pagination": page.pagination(total),
    })))
}
