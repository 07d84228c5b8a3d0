//! The embeddable chat widget: `GET /widget.js` (the script, compiled into the binary) and
//! `GET /widget/config/{slug}` (the public, non-secret settings it draws itself with, CORS by
//! the tenant's `allowedDomains` exactly like the chat endpoint).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::chat::{origin, origin_refused, with_cors};
use super::extract::Params;
use crate::chat::origin::origin_allowed;
use crate::domain::{ContentPolicy, Segment, Starter};
use crate::error::{ApiError, ApiResult};

pub const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// `GET /widget.js`.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(WIDGET_JS)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WidgetConfig {
    tenant: String,
    bot_name: String,
    bot_title: String,
    show_ai_badge: bool,
    primary_color: String,
    secondary_color: String,
    segment: String,
    welcome_message: String,
    conversation_starters: Vec<Starter>,
    bot_avatar: Option<String>,
    content_policy: ContentPolicy,
    age_gate_enabled: bool,
    age_gate_min_age: u8,
    content_warning: Option<String>,
}

/// `GET /widget/config/{slug}?segment=...`.
pub async fn config(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: Params,
) -> HttpResponse {
    with_cors(&req, respond(&req, &state, &path, &params).await)
}

async fn respond(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    params: &Params,
) -> ApiResult<HttpResponse> {
    params.only(&["segment"])?;
    let tenant = state
        .store
        .get_tenant(slug)
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    if let Some(origin) = origin(req)
        && !origin_allowed(&tenant.allowed_domains, origin)
    {
        return Err(origin_refused());
    }
    let segment: Segment =
        match params.str("segment").filter(|s| !s.is_empty()) {
            Some(wanted) => state
                .store
                .find_segment(slug, wanted)
                .await?
                .filter(|s| s.is_active)
                .ok_or_else(|| {
                    ApiError::validation("segment", format!("no active segment '{wanted}'"))
                })?,
            None => state.store.default_segment(slug).await?.ok_or_else(|| {
                ApiError::internal(format!("tenant {slug} has no default segment"))
            })?,
        };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(WidgetConfig {
            tenant: tenant.slug,
            bot_name: tenant.bot_name,
            bot_title: tenant.bot_title,
            show_ai_badge: tenant.show_ai_badge,
            primary_color: tenant.primary_color,
            secondary_color: tenant.secondary_color,
            segment: segment.slug,
            welcome_message: segment.welcome_message,
            conversation_starters: segment.conversation_starters,
            bot_avatar: tenant.extra.bot_avatar,
            content_policy: tenant.content_policy,
            age_gate_enabled: tenant.extra.age_gate_enabled,
            age_gate_min_age: tenant.extra.age_gate_min_age,
            content_warning: tenant.extra.content_warning,
        }))
}
