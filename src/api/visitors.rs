//! `/tenants/{slug}/visitors`: the visitors a tenant knows and what the bot remembers about
//! them, in the hosted API's shapes.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::extract::{ApiJson, Params};
use super::fields::{known_keys, nullable, phone_number, text};
use crate::auth::{Authed, need};
use crate::domain::{MemoryFact, NewVisitor, Visitor, VisitorPatch};
use crate::error::{ApiError, ApiResult};

const MAX_LIMIT: u64 = 200;
const DEFAULT_LIMIT: u64 = 50;
const MAX_METADATA_BYTES: usize = 16 * 1024;
const MAX_FACT_VALUE: usize = 2_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorView {
    id: String,
    email: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    phone: Option<String>,
    auth_provider: Option<String>,
    metadata: Map<String, Value>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_count: Option<u64>,
}

impl From<Visitor> for VisitorView {
    fn from(v: Visitor) -> Self {
        VisitorView {
            id: v.id,
            email: v.email,
            external_id: v.external_id,
            display_name: v.display_name,
            phone: v.phone,
            auth_provider: v.auth_provider,
            metadata: v.metadata,
            created_at: v.created_at.to_rfc3339(),
            updated_at: v.updated_at.to_rfc3339(),
            conversation_count: None,
            memory_count: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FactView {
    key: String,
    value: String,
    source: String,
    created_at: String,
    updated_at: String,
}

impl From<MemoryFact> for FactView {
    fn from(f: MemoryFact) -> Self {
        FactView {
            key: f.key,
            value: f.value,
            source: f.source,
            created_at: f.created_at.to_rfc3339(),
            updated_at: f.updated_at.to_rfc3339(),
        }
    }
}

fn email(field: &str, value: &Value) -> Result<String, ApiError> {
    let text = text(field, value, 3, 254)?;
    let valid = text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
    });
    match valid {
        true => Ok(text),
        false => Err(ApiError::validation(field, "must be an email address")),
    }
}

fn metadata(field: &str, value: &Value) -> Result<Map<String, Value>, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation(field, "must be an object"))?;
    if value.to_string().len() > MAX_METADATA_BYTES {
        return Err(ApiError::validation(
            field,
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(object.clone())
}

/// Validates each field present.
fn read_patch(body: &Map<String, Value>) -> ApiResult<VisitorPatch> {
    let mut p = VisitorPatch::default();
    for (field, value) in body {
        let f = field.as_str();
        match f {
            "email" => p.email = Some(nullable(value, |v| email(f, v))?),
            "externalId" => p.external_id = Some(nullable(value, |v| text(f, v, 1, 200))?),
            "displayName" => p.display_name = Some(nullable(value, |v| text(f, v, 1, 200))?),
            "phone" => p.phone = Some(nullable(value, |v| phone_number(f, v))?),
            "authProvider" => p.auth_provider = Some(nullable(value, |v| text(f, v, 1, 50))?),
            "metadata" => p.metadata = Some(metadata(f, value)?),
            "id" | "createdAt" | "updatedAt" => {
                return Err(ApiError::validation(f, "is read-only"));
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    Ok(p)
}

fn visitor_not_found() -> ApiError {
    ApiError::not_found("Visitor")
}

pub async fn list(
    auth: Authed<need::VisitorsRead>,
    state: web::Data<AppState>,
    params: Params,
) -> ApiResult<HttpResponse> {
    params.only(&["limit", "offset", "search"])?;
    let limit = params.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)? as usize;
    let offset = params.int("offset", 0, 0, 1_000_000_000)? as usize;
    let search = params
        .str("search")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::validation(
            "search",
            "must be at most 200 characters",
        ));
    }
    let page = state
        .store
        .list_visitors(auth.tenant(), search, offset, limit)
        .await?;
    let visitors: Vec<VisitorView> = page.visitors.into_iter().map(VisitorView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "visitors": visitors, "total": page.total, "limit": limit, "offset": offset,
    })))
}

pub async fn create(
    auth: Authed<need::VisitorsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let patch = read_patch(&body.0)?;
    let new = NewVisitor {
        email: patch.email.flatten(),
        external_id: patch.external_id.flatten(),
        display_name: patch.display_name.flatten(),
        phone: patch.phone.flatten(),
        auth_provider: patch.auth_provider.flatten(),
        metadata: patch.metadata.unwrap_or_default(),
    };
    if new.email.is_none() && new.external_id.is_none() {
        return Err(ApiError::validation(
            "email",
            "a visitor needs an email or an externalId",
        ));
    }
    let created = state.store.create_visitor(auth.tenant(), new).await?;
    Ok(HttpResponse::Created().json(VisitorView::from(created)))
}

pub async fn get(
    auth: Authed<need::VisitorsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let detail = state
        .store
        .get_visitor(auth.tenant(), &path.1)
        .await?
        .ok_or_else(visitor_not_found)?;
    let mut view = VisitorView::from(detail.visitor);
    view.conversation_count = Some(detail.conversation_count);
    view.memory_count = Some(detail.memory_count);
    Ok(HttpResponse::Ok().json(view))
}

pub async fn update(
    auth: Authed<need::VisitorsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let patch = read_patch(&body.0)?;
    let updated = state
        .store
        .update_visitor(auth.tenant(), &path.1, patch)
        .await?;
    Ok(HttpResponse::Ok().json(VisitorView::from(updated)))
}

pub async fn delete(
    auth: Authed<need::VisitorsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    state.store.delete_visitor(auth.tenant(), &path.1).await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": path.1})))
}

pub async fn memory(
    auth: Authed<need::VisitorsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let facts = state
        .store
        .visitor_memory(auth.tenant(), &path.1)
        .await?
        .ok_or_else(visitor_not_found)?;
    let facts: Vec<FactView> = facts.into_iter().map(FactView::from).collect();
    Ok(HttpResponse::Ok().json(json!({"memory": facts})))
}

/// A fact's key: 1 to 100 letters, digits, `_`, `-` or `.`.
pub fn fact_key(field: &str, key: &str) -> ApiResult<()> {
    let valid = (1..=100).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    match valid {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            "must be 1 to 100 letters, digits, _, - or .",
        )),
    }
}

pub async fn remember(
    auth: Authed<need::VisitorsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    known_keys(&body, &["key", "value"], None)?;
    let key = text("key", body.get("key").unwrap_or(&Value::Null), 1, 100)?;
    fact_key("key", &key)?;
    let value = text(
        "value",
        body.get("value").unwrap_or(&Value::Null),
        1,
        MAX_FACT_VALUE,
    )?;
    let (fact, created) = state
        .store
        .remember(auth.tenant(), &path.1, &key, &value, "api")
        .await?;
    let status = match created {
        true => actix_web::http::StatusCode::CREATED,
        false => actix_web::http::StatusCode::OK,
    };
    Ok(HttpResponse::build(status).json(FactView::from(fact)))
}

pub async fn forget(
    auth: Authed<need::VisitorsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (_, id, key) = path.into_inner();
    state.store.forget(auth.tenant(), &id, &key).await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "key": key})))
}
