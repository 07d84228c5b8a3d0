//! `/tenants/{slug}/segments`: the bot's audiences/personas. Addressed by id or slug.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AppState;
use super::extract::ApiJson;
use super::fields::{boolean, text};
use crate::auth::{Authed, need};
use crate::domain::segment::{is_segment_slug, slug_from_name};
use crate::domain::{NewSegment, Segment, SegmentPatch, Starter};
use crate::error::{ApiError, ApiResult};

const MAX_STARTERS: usize = 10;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StarterView {
    text: String,
    emoji: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentView {
    id: String,
    slug: String,
    name: String,
    /// Left out of listings: prompts can be long and are only needed when editing one.
    #[serde(skip_serializing_if = "Option::is_none")]
    system_prompt: Option<String>,
    welcome_message: String,
    conversation_starters: Vec<StarterView>,
    is_default: bool,
    is_active: bool,
    created_at: String,
    updated_at: String,
}

impl SegmentView {
    pub fn new(s: Segment, with_prompt: bool) -> Self {
        SegmentView {
            id: s.id,
            slug: s.slug,
            name: s.name,
            system_prompt: with_prompt.then_some(s.system_prompt),
            welcome_message: s.welcome_message,
            conversation_starters: s
                .conversation_starters
                .into_iter()
                .map(|c| StarterView {
                    text: c.text,
                    emoji: c.emoji,
                })
                .collect(),
            is_default: s.is_default,
            is_active: s.is_active,
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// Validates the fields of a create/patch body into a patch (and, on creation, a slug).
fn read_changes(
    changes: &Map<String, Value>,
    current_slug: Option<&str>,
) -> Result<(SegmentPatch, Option<String>), ApiError> {
    let mut patch = SegmentPatch::default();
    let mut slug = None;
    for (field, value) in changes {
        let f = field.as_str();
        match f {
            "name" => patch.name = Some(text(f, value, 1, 100)?),
            "slug" => match current_slug {
                None => {
                    slug = match value.as_str() {
                        Some(s) if is_segment_slug(s) => Some(s.to_string()),
                        _ => {
                            return Err(ApiError::validation(
                                f,
                                "must be 1-63 characters of a-z, 0-9 and -",
                            ));
                        }
                    }
                }
                Some(current) if value.as_str() != Some(current) => {
                    return Err(ApiError::validation(
                        f,
                        "cannot be changed (corpus entries refer to it)",
                    ));
                }
                Some(_) => {}
            },
            "systemPrompt" => patch.system_prompt = Some(text(f, value, 0, 20_000)?),
            "welcomeMessage" => patch.welcome_message = Some(text(f, value, 0, 2_000)?),
            "conversationStarters" => patch.conversation_starters = Some(starters(f, value)?),
            "isDefault" => patch.is_default = Some(boolean(f, value)?),
            "isActive" => patch.is_active = Some(boolean(f, value)?),
            "id" | "createdAt" | "updatedAt" => {
                return Err(ApiError::validation(f, "is read-only"));
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    Ok((patch, slug))
}

fn starters(field: &str, value: &Value) -> Result<Vec<Starter>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::validation(field, "must be a list of {text, emoji}"))?;
    if items.len() > MAX_STARTERS {
        return Err(ApiError::validation(
            field,
            format!("must have at most {MAX_STARTERS} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |name: &str| format!("{field}[{i}].{name}");
            let object = item.as_object().ok_or_else(|| {
                ApiError::validation(&format!("{field}[{i}]"), "must be an object {text, emoji}")
            })?;
            super::fields::known_keys(object, &["text", "emoji"], Some(&format!("{field}[{i}]")))?;
            let text = text(
                &at("text"),
                object.get("text").unwrap_or(&Value::Null),
                1,
                200,
            )?;
            // The hosted API's examples send `"emoji": ""` for none.
            let emoji = match object.get("emoji") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(v) => Some(super::fields::text(&at("emoji"), v, 1, 16)?),
            };
            Ok(Starter { text, emoji })
        })
        .collect()
}

pub async fn list(
    auth: Authed<need::SegmentsRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let segments = state.store.list_segments(auth.tenant()).await?;
    let views: Vec<SegmentView> = segments
        .into_iter()
        .map(|s| SegmentView::new(s, false))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

pub async fn get(
    auth: Authed<need::SegmentsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let segment = state
        .store
        .find_segment(auth.tenant(), &path.1)
        .await?
        .ok_or_else(|| ApiError::not_found("Segment"))?;
    Ok(HttpResponse::Ok().json(SegmentView::new(segment, true)))
}

pub async fn create(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let new = new_segment(&body.0)?;
    let created = state.store.create_segment(auth.tenant(), new).await?;
    Ok(HttpResponse::Created().json(SegmentView::new(created, true)))
}

/// Validates a new segment's fields (the slug derived from the name when absent). Shared
/// with the dashboard.
pub fn new_segment(changes: &Map<String, Value>) -> ApiResult<NewSegment> {
    if !changes.contains_key("name") {
        return Err(ApiError::validation("name", "is required"));
    }
    let (patch, slug) = read_changes(changes, None)?;
    let name = patch.name.clone().unwrap_or_default();
    let slug = match slug {
        Some(slug) => slug,
        None => {
            let derived = slug_from_name(&name);
            if derived.is_empty() {
                return Err(ApiError::validation(
                    "slug",
                    "is required when the name has no letters or digits",
                ));
            }
            derived
        }
    };
    Ok(NewSegment {
        slug,
        name,
        system_prompt: patch.system_prompt.unwrap_or_default(),
        welcome_message: patch.welcome_message.unwrap_or_default(),
        conversation_starters: patch.conversation_starters.unwrap_or_default(),
        is_default: patch.is_default.unwrap_or(false),
        is_active: patch.is_active.unwrap_or(true),
    })
}

pub async fn update(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let updated = change_segment(&state, auth.tenant(), &path.1, &body.0).await?;
    Ok(HttpResponse::Ok().json(SegmentView::new(updated, true)))
}

/// Validates and applies a partial update of a segment. Shared with the dashboard.
pub async fn change_segment(
    state: &AppState,
    tenant: &str,
    key: &str,
    changes: &Map<String, Value>,
) -> ApiResult<Segment> {
    // The slug may be repeated unchanged in a patch; compare it with the current one.
    let current = state
        .store
        .find_segment(tenant, key)
        .await?
        .ok_or_else(|| ApiError::not_found("Segment"))?;
    let (patch, _) = read_changes(changes, Some(&current.slug))?;
    Ok(state
        .store
        .update_segment(tenant, &current.id, patch)
        .await?)
}

pub async fn delete(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let deleted = state.store.delete_segment(auth.tenant(), &path.1).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": deleted.id})))
}
