//! `/tenants/{slug}/tools`: the tools the bot may use, with each type's configuration
//! validated. (Running them in a conversation is not built yet.)

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::extract::ApiJson;
use super::fields::{boolean, known_keys, text};
use crate::auth::{Authed, need};
use crate::domain::tool::HOSTED_ONLY_TYPES;
use crate::domain::{Actor, NewTool, Tool, ToolPatch, ToolType};
use crate::error::{ApiError, ApiResult};
use crate::store::StoreError;

const FORM_FIELD_TYPES: [&str; 5] = ["text", "email", "textarea", "tel", "select"];
const MAX_FORM_FIELDS: usize = 20;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolView {
    id: String,
    name: String,
    description: String,
    #[serde(rename = "type")]
    tool_type: ToolType,
    config: Map<String, Value>,
    segment: Option<String>,
    is_active: bool,
    position: u32,
    created_at: String,
    updated_at: String,
}

impl From<Tool> for ToolView {
    fn from(t: Tool) -> Self {
        ToolView {
            id: t.id,
            name: t.name,
            description: t.description,
            tool_type: t.tool_type,
            config: t.config,
            segment: t.segment,
            is_active: t.is_active,
            position: t.position,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

fn tool_type(value: &Value) -> ApiResult<ToolType> {
    let name = value.as_str().unwrap_or_default();
    if let Some(t) = ToolType::parse(name) {
        return Ok(t);
    }
    let available = ToolType::names().join(", ");
    Err(ApiError::validation(
        "type",
        match HOSTED_ONLY_TYPES.contains(&name) {
            true => format!("{name} is not available self-hosted; available: {available}"),
            false => format!("must be one of {available}"),
        },
    ))
}

/// Checks a configuration against its type: SUBMIT_FORM needs `fields`, the others take
/// optional settings only. `allow_http_loopback`: `[chat] webhook_allow_http_loopback`.
fn config(
    tool_type: ToolType,
    value: &Value,
    allow_http_loopback: bool,
) -> ApiResult<Map<String, Value>> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation("config", "must be an object"))?;
    match tool_type {
        ToolType::SubmitForm => {
            known_keys(
                object,
                &["fields", "submitLabel", "webhookUrl"],
                Some("config"),
            )?;
            if let Some(label) = object.get("submitLabel") {
                text("config.submitLabel", label, 1, 50)?;
            }
            if let Some(url) = object.get("webhookUrl") {
                super::submissions::check_webhook_url(url, allow_http_loopback)?;
            }
            let fields = object
                .get("fields")
                .and_then(Value::as_array)
                .filter(|f| (1..=MAX_FORM_FIELDS).contains(&f.len()))
                .ok_or_else(|| {
                    ApiError::validation(
                        "config.fields",
                        format!("must be a list of 1 to {MAX_FORM_FIELDS} fields"),
                    )
                })?;
            let mut names = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                let at = |key: &str| format!("config.fields[{i}].{key}");
                let field = field.as_object().ok_or_else(|| {
                    ApiError::validation(&format!("config.fields[{i}]"), "must be an object")
                })?;
                known_keys(
                    field,
                    &["name", "label", "type", "required", "options"],
                    Some(&format!("config.fields[{i}]")),
                )?;
                let name = text(
                    &at("name"),
                    field.get("name").unwrap_or(&Value::Null),
                    1,
                    50,
                )?;
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(ApiError::validation(
                        &at("name"),
                        "must be letters, digits or _",
                    ));
                }
                if names.contains(&name) {
                    return Err(ApiError::validation(
                        &at("name"),
                        "is used by another field",
                    ));
                }
                names.push(name);
                text(
                    &at("label"),
                    field.get("label").unwrap_or(&Value::Null),
                    1,
                    100,
                )?;
                let kind = field
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !FORM_FIELD_TYPES.contains(&kind) {
                    return Err(ApiError::validation(
                        &at("type"),
                        format!("must be one of {}", FORM_FIELD_TYPES.join(", ")),
                    ));
                }
                if let Some(required) = field.get("required") {
                    boolean(&at("required"), required)?;
                }
                match (kind, field.get("options")) {
                    ("select", Some(Value::Array(options)))
                        if (1..=50).contains(&options.len())
                            && options
                                .iter()
                                .all(|o| o.as_str().is_some_and(|s| !s.trim().is_empty())) => {}
                    ("select", _) => {
                        return Err(ApiError::validation(
                            &at("options"),
                            "a select needs 1 to 50 non-empty options",
                        ));
                    }
                    (_, Some(_)) => {
                        return Err(ApiError::validation(&at("options"), "only for a select"));
                    }
                    (_, None) => {}
                }
            }
        }
        ToolType::RememberFact => {
            known_keys(object, &["keys"], Some("config"))?;
            if let Some(keys) = object.get("keys") {
                let keys = keys.as_array().ok_or_else(|| {
                    ApiError::validation("config.keys", "must be a list of fact keys")
                })?;
                for (i, key) in keys.iter().enumerate() {
                    let field = format!("config.keys[{i}]");
                    super::visitors::fact_key(&field, &text(&field, key, 1, 100)?)?;
                }
            }
        }
        ToolType::EscalateToHuman => {
            known_keys(object, &["message"], Some("config"))?;
            if let Some(message) = object.get("message") {
                text("config.message", message, 1, 500)?;
            }
        }
    }
    Ok(object.clone())
}

/// The segment a request names, by `segment` (slug) or `segmentId`; `null` clears it.
async fn segment(
    state: &AppState,
    tenant: &str,
    body: &Map<String, Value>,
) -> ApiResult<Option<Option<String>>> {
    let (field, value) = match (body.get("segment"), body.get("segmentId")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "segmentId",
                "send either segment or segmentId",
            ));
        }
        (Some(v), None) => ("segment", v),
        (None, Some(v)) => ("segmentId", v),
        (None, None) => return Ok(None),
    };
    if value.is_null() {
        return Ok(Some(None));
    }
    let key = text(field, value, 1, 100)?;
    let found = state
        .store
        .find_segment(tenant, &key)
        .await?
        .ok_or_else(|| ApiError::validation(field, format!("no segment '{key}'")))?;
    Ok(Some(Some(found.slug)))
}

const FIELDS: [&str; 8] = [
    "name",
    "description",
    "type",
    "config",
    "segment",
    "segmentId",
    "isActive",
    "position",
];

fn position(value: &Value) -> ApiResult<u32> {
    value
        .as_u64()
        .filter(|p| *p <= 1000)
        .map(|p| p as u32)
        .ok_or_else(|| ApiError::validation("position", "must be a whole number from 0 to 1000"))
}

/// The tenant's first webhook tool creates its signing secret, shown once in that response
/// (`webhookSecret`); `POST /webhook-secret/rotate` makes a new one later.
async fn webhook_secret(
    state: &AppState,
    tenant: &str,
    tool: &Tool,
    by: Actor,
) -> ApiResult<Option<String>> {
    match crate::domain::submission::webhook_url(&tool.config) {
        Some(_) => super::submissions::ensure_secret(state, tenant, by).await,
        None => Ok(None),
    }
}

fn with_secret(view: ToolView, secret: Option<String>) -> Value {
    let mut value = serde_json::to_value(view).unwrap_or_else(|_| json!({}));
    if let (Some(secret), Some(object)) = (secret, value.as_object_mut()) {
        object.insert("webhookSecret".into(), Value::from(secret));
    }
    value
}

pub async fn list(
    auth: Authed<need::ToolsRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let tools = state.store.list_tools(auth.tenant()).await?;
    let views: Vec<ToolView> = tools.into_iter().map(ToolView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub async fn create(
    auth: Authed<need::ToolsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    known_keys(&body, &FIELDS, None)?;
    let tool_type = tool_type(body.get("type").unwrap_or(&Value::Null))?;
    let new = NewTool {
        name: text("name", body.get("name").unwrap_or(&Value::Null), 1, 100)?,
        description: match body.get("description") {
            None => String::new(),
            Some(v) => text("description", v, 0, 1000)?,
        },
        tool_type,
        config: config(
            tool_type,
            body.get("config").unwrap_or(&json!({})),
            state.config.chat.webhook_allow_http_loopback,
        )?,
        segment: segment(&state, auth.tenant(), &body).await?.flatten(),
        is_active: body
            .get("isActive")
            .map(|v| boolean("isActive", v))
            .transpose()?
            .unwrap_or(true),
        position: body.get("position").map(position).transpose()?.unwrap_or(0),
    };
    let created = state.store.create_tool(auth.tenant(), new).await?;
    let secret = webhook_secret(&state, auth.tenant(), &created, auth.principal.actor()).await?;
    Ok(HttpResponse::Created().json(with_secret(ToolView::from(created), secret)))
}

pub async fn get(
    auth: Authed<need::ToolsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let tool = state
        .store
        .get_tool(auth.tenant(), &path.1)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;
    Ok(HttpResponse::Ok().json(ToolView::from(tool)))
}

pub async fn update(
    auth: Authed<need::ToolsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    known_keys(&body, &FIELDS, None)?;
    if body.contains_key("type") {
        return Err(ApiError::validation(
            "type",
            "is fixed at creation: create another tool",
        ));
    }
    let patch = ToolPatch {
        name: body
            .get("name")
            .map(|v| text("name", v, 1, 100))
            .transpose()?,
        description: body
            .get("description")
            .map(|v| text("description", v, 0, 1000))
            .transpose()?,
        config: None,
        segment: segment(&state, auth.tenant(), &body).await?,
        is_active: body
            .get("isActive")
            .map(|v| boolean("isActive", v))
            .transpose()?,
        position: body.get("position").map(position).transpose()?,
    };
    // The configuration is checked against the tool's own type, inside the write.
    let new_config = body.get("config").cloned();
    let allow_http_loopback = state.config.chat.webhook_allow_http_loopback;
    let updated = state
        .store
        .update_tool(auth.tenant(), &path.1, move |current| {
            let mut patch = patch.clone();
            if let Some(value) = &new_config {
                let checked = config(current.tool_type, value, allow_http_loopback);
                patch.config = Some(checked.map_err(|e| {
                    let (field, rule) = e.message.split_once(": ").unwrap_or(("config", ""));
                    StoreError::invalid(field, rule)
                })?);
            }
            Ok(patch)
        })
        .await?;
    let secret = webhook_secret(&state, auth.tenant(), &updated, auth.principal.actor()).await?;
    Ok(HttpResponse::Ok().json(with_secret(ToolView::from(updated), secret)))
}

pub async fn delete(
    auth: Authed<need::ToolsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    state.store.delete_tool(auth.tenant(), &path.1).await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": true, "id": path.1})))
}
