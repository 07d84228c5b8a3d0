//! `GET/PUT/PATCH /tenants/{slug}`: the tenant's settings. PUT and PATCH are both partial
//! updates; each field present is validated on its own and named in any error.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AppState;
use super::extract::ApiJson;
use super::fields::{boolean, one_of, text};
use crate::auth::{Authed, need};
use crate::chat::origin::is_host_pattern;
use crate::domain::{ContentPolicy, Plan, Tenant, TenantPatch, Tone};
use crate::error::{ApiError, ApiResult};
const READ_ONLY: [&str; 6] = [
    "id",
    "slug",
    "plan",
    "createdAt",
    "updatedAt",
    "conversationsUsed",
];
const MAX_ALLOWED_DOMAINS: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    id: String,
    slug: String,
    name: String,
    plan: Plan,
    is_activated: bool,
    bot_name: String,
    bot_title: String,
    bot_lore: String,
    bot_tone: Tone,
    use_tutoiement: bool,
    allow_emojis: bool,
    primary_color: String,
    secondary_color: String,
    show_ai_badge: bool,
    allowed_domains: Vec<String>,
    content_policy: ContentPolicy,
    conversations_used: u64,
    conversations_limit: Option<u64>,
    answer_sensitivity: f32,
    created_at: String,
    updated_at: String,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            slug: t.slug,
            name: t.name,
            plan: t.plan,
            is_activated: t.is_activated,
            bot_name: t.bot_name,
            bot_title: t.bot_title,
            bot_lore: t.bot_lore,
            bot_tone: t.bot_tone,
            use_tutoiement: t.use_tutoiement,
            allow_emojis: t.allow_emojis,
            primary_color: t.primary_color,
            secondary_color: t.secondary_color,
            show_ai_badge: t.show_ai_badge,
            allowed_domains: t.allowed_domains,
            content_policy: t.content_policy,
            conversations_used: t.conversations_used,
            conversations_limit: t.conversations_limit,
            answer_sensitivity: t.answer_sensitivity,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

pub async fn get(
    auth: Authed<need::SettingsRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let tenant = state
        .store
        .get_tenant(auth.tenant())
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}

pub async fn update(
    auth: Authed<need::SettingsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let patch = read_patch(&body.0)?;
    let updated = state
        .store
        .update_tenant(auth.tenant(), patch, auth.principal.actor())
        .await?;
    Ok(HttpResponse::Ok().json(TenantView::from(updated)))
}

/// Validates a partial update, each field on its own.
pub fn read_patch(changes: &Map<String, Value>) -> Result<TenantPatch, ApiError> {
    let mut p = TenantPatch::default();
    for (field, value) in changes {
        let f = field.as_str();
        match f {
            "name" => p.name = Some(text(f, value, 1, 100)?),
            "botName" => p.bot_name = Some(text(f, value, 1, 100)?),
            "botTitle" => p.bot_title = Some(text(f, value, 0, 200)?),
            "botLore" => p.bot_lore = Some(text(f, value, 0, 5000)?),
            "botTone" => p.bot_tone = Some(one_of(f, value, Tone::parse, &Tone::names())?),
            "contentPolicy" => {
                p.content_policy = Some(one_of(
                    f,
                    value,
                    ContentPolicy::parse,
                    &ContentPolicy::names(),
                )?)
            }
            "isActivated" => p.is_activated = Some(boolean(f, value)?),
            "useTutoiement" => p.use_tutoiement = Some(boolean(f, value)?),
            "allowEmojis" => p.allow_emojis = Some(boolean(f, value)?),
            "showAiBadge" => p.show_ai_badge = Some(boolean(f, value)?),
            "primaryColor" => p.primary_color = Some(color(f, value)?),
            "secondaryColor" => p.secondary_color = Some(color(f, value)?),
            "allowedDomains" => p.allowed_domains = Some(domains(f, value)?),
            "conversationsLimit" => {
                p.conversations_limit = Some(match value {
                    Value::Null => None,
                    v => Some(v.as_u64().filter(|n| *n <= 1_000_000_000).ok_or_else(|| {
                        ApiError::validation(
                            f,
                            "must be null or a whole number from 0 to 1000000000",
                        )
                    })?),
                })
            }
            "answerSensitivity" => {
                p.answer_sensitivity = Some(
                    value
                        .as_f64()
                        .filter(|v| (0.0..=1.0).contains(v))
                        .ok_or_else(|| ApiError::validation(f, "must be a number from 0 to 1"))?
                        as f32,
                )
            }
            _ if READ_ONLY.contains(&f) => {
                return Err(ApiError::validation(f, "is read-only"));
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    Ok(p)
}

fn color(field: &str, value: &Value) -> Result<String, ApiError> {
    match value.as_str() {
        Some(s) if is_hex_color(s) => Ok(s.to_ascii_lowercase()),
        _ => Err(ApiError::validation(field, "must be a colour like #1a2b3c")),
    }
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn domains(field: &str, value: &Value) -> Result<Vec<String>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::validation(field, "must be a list of host patterns"))?;
    if items.len() > MAX_ALLOWED_DOMAINS {
        return Err(ApiError::validation(
            field,
            format!("must have at most {MAX_ALLOWED_DOMAINS} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(p) if is_host_pattern(p) => Ok(p.to_ascii_lowercase()),
            _ => Err(ApiError::validation(
                &format!("{field}[{i}]"),
                "must be a host pattern like example.com, *.example.com or localhost:3000 (no scheme or path)",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(body: Value) -> Result<Tenant, ApiError> {
        let mut t = Tenant::new("ten_1".into(), "acme", "Acme", Default::default());
        read_patch(body.as_object().unwrap())?.apply(&mut t);
        Ok(t)
    }

    #[test]
    fn each_field_is_validated_and_named() {
        let cases = [
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"botName": 5}), "botName"),
            (json!({"botTitle": "x".repeat(201)}), "botTitle"),
            (json!({"botLore": "x".repeat(5001)}), "botLore"),
            (json!({"botTone": "ANGRY"}), "botTone"),
            (json!({"contentPolicy": "sfw"}), "contentPolicy"),
            (json!({"isActivated": "yes"}), "isActivated"),
            (json!({"useTutoiement": 1}), "useTutoiement"),
            (json!({"allowEmojis": null}), "allowEmojis"),
            (json!({"showAiBadge": "true"}), "showAiBadge"),
            (json!({"primaryColor": "red"}), "primaryColor"),
            (json!({"secondaryColor": "#12345"}), "secondaryColor"),
            (json!({"allowedDomains": "example.com"}), "allowedDomains"),
            (
                json!({"allowedDomains": ["ok.com", "https://bad.com"]}),
                "allowedDomains[1]",
            ),
            (json!({"conversationsLimit": -1}), "conversationsLimit"),
            (json!({"id": "x"}), "id"),
            (json!({"slug": "other"}), "slug"),
            (json!({"createdAt": "2024-01-01T00:00:00Z"}), "createdAt"),
            (json!({"conversationsUsed": 0}), "conversationsUsed"),
            (json!({"favouriteColour": "blue"}), "favouriteColour"),
        ];
        for (body, field) in cases {
            let err = apply(body.clone()).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{body}");
            assert!(
                err.message.starts_with(&format!("{field}: ")),
                "{body} -> {}",
                err.message
            );
        }
    }

    #[test]
    fn valid_changes_apply() {
        let t = apply(json!({
            "botName": "Max", "botTone": "FRIENDLY", "primaryColor": "#AABBCC",
            "allowedDomains": ["*.Example.com", "localhost:3000"], "conversationsLimit": null,
            "contentPolicy": "SFW_STRICT", "isActivated": false
        }))
        .unwrap();
        assert_eq!(t.bot_name, "Max");
        assert_eq!(t.bot_tone, Tone::Friendly);
        assert_eq!(t.primary_color, "#aabbcc");
        assert_eq!(t.allowed_domains, vec!["*.example.com", "localhost:3000"]);
        assert_eq!(t.content_policy, ContentPolicy::SfwStrict);
        assert!(!t.is_activated);
    }
}
