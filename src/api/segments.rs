//! `/tenants/{slug}/segments`: the bot's audiences/personas. Addressed by id or slug.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::extract::ApiJson;
use super::fields::{boolean, text};
use crate::app::AppState;
use crate::auth::{Authed, need};
use crate::clock::{now_ms, to_rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::store::segments::{Segment, Starter, is_segment_slug, slug_from_name};

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
    fn new(s: Segment, with_prompt: bool) -> Self {
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
            created_at: to_rfc3339(s.created_at),
            updated_at: to_rfc3339(s.updated_at),
        }
    }
}

/// Applies the fields of a create/patch body. `slug` is only accepted on creation.
fn apply_changes(
    segment: &mut Segment,
    changes: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiError> {
    for (field, value) in changes {
        let f = field.as_str();
        match f {
            "name" => segment.name = text(f, value, 1, 100)?,
            "slug" if creating => {
                segment.slug = match value.as_str() {
                    Some(s) if is_segment_slug(s) => s.to_string(),
                    _ => {
                        return Err(ApiError::validation(
                            f,
                            "must be 1-63 characters of a-z, 0-9 and -",
                        ));
                    }
                }
            }
            "slug" if value.as_str() != Some(segment.slug.as_str()) => {
                return Err(ApiError::validation(
                    f,
                    "cannot be changed (corpus entries refer to it)",
                ));
            }
            "slug" => {}
            "systemPrompt" => segment.system_prompt = text(f, value, 0, 20_000)?,
            "welcomeMessage" => segment.welcome_message = text(f, value, 0, 2_000)?,
            "conversationStarters" => segment.conversation_starters = starters(f, value)?,
            "isDefault" => segment.is_default = boolean(f, value)?,
            "isActive" => segment.is_active = boolean(f, value)?,
            "id" | "createdAt" | "updatedAt" => {
                return Err(ApiError::validation(f, "is read-only"));
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    if segment.is_default && !segment.is_active {
        return Err(ApiError::conflict("The default segment cannot be inactive"));
    }
    Ok(())
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
            if let Some(unknown) = object.keys().find(|k| *k != "text" && *k != "emoji") {
                return Err(ApiError::validation(&at(unknown), "unknown field"));
            }
            let text = text(
                &at("text"),
                object.get("text").unwrap_or(&Value::Null),
                1,
                200,
            )?;
            let emoji = match object.get("emoji") {
                None | Some(Value::Null) => None,
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
    let tenant = auth.tenant().to_string();
    let segments = state
        .store
        .blocking(move |s| s.list_segments(&tenant))
        .await?;
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
    let tenant = auth.tenant().to_string();
    let key = path.into_inner().1;
    let segment = state
        .store
        .blocking(move |s| s.find_segment(&tenant, &key))
        .await?
        .ok_or_else(|| ApiError::not_found("Segment"))?;
    Ok(HttpResponse::Ok().json(SegmentView::new(segment, true)))
}

pub async fn create(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let changes = body.0;
    if !changes.contains_key("name") {
        return Err(ApiError::validation("name", "is required"));
    }
    let mut segment = Segment::new("", "", now_ms());
    apply_changes(&mut segment, &changes, true)?;
    if segment.slug.is_empty() {
        segment.slug = slug_from_name(&segment.name);
        if segment.slug.is_empty() {
            return Err(ApiError::validation(
                "slug",
                "is required when the name has no letters or digits",
            ));
        }
    }
    let tenant = auth.tenant().to_string();
    let created = state
        .store
        .blocking(move |s| s.create_segment(&tenant, segment).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Created().json(SegmentView::new(created, true)))
}

pub async fn update(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let key = path.into_inner().1;
    let changes = body.0;
    let updated = state
        .store
        .blocking(move |s| {
            s.update_segment(&tenant, &key, |seg| apply_changes(seg, &changes, false))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Segment"))?;
    Ok(HttpResponse::Ok().json(SegmentView::new(updated, true)))
}

pub async fn delete(
    auth: Authed<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let tenant = auth.tenant().to_string();
    let key = path.into_inner().1;
    let deleted = state
        .store
        .blocking(move |s| s.delete_segment(&tenant, &key).map_err(ApiError::from))
        .await?
        .ok_or_else(|| ApiError::not_found("Segment"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"deleted": true, "id": deleted.id})))
}
