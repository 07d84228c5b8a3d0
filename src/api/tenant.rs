//! `GET/PUT/PATCH /tenants/{slug}`: the tenant's settings. PUT and PATCH are both partial
//! updates; each field present is validated on its own and named in any error.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AppState;
use super::extract::ApiJson;
use super::fields::{boolean, known_keys, nullable, one_of, phone_number, text};
use crate::auth::{Authed, need};
use crate::chat::origin::is_host_pattern;
use crate::domain::tenant::is_valid_slug;
use crate::domain::{
    ContentPolicy, Plan, Tenant, TenantExtra, TenantPatch, Tone, VisitorAuthMode, VoiceConfig,
};
use crate::error::{ApiError, ApiResult};
const READ_ONLY: [&str; 7] = [
    "parentId",
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
    /// The parent tenant's id, for a child tenant.
    parent_id: Option<String>,
    #[serde(flatten)]
    extra: TenantExtra,
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
            parent_id: t.parent.map(|p| p.id),
            extra: t.extra,
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

/// `POST /tenants`: a child tenant of the caller's tenant (a `*` credential of the parent).
/// `parentId`, when sent, must be the caller's tenant id.
pub async fn create_child(
    auth: Authed<need::All>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    known_keys(&body, &["slug", "name", "parentId"], None)?;
    let slug = text("slug", body.get("slug").unwrap_or(&Value::Null), 2, 63)?;
    if !is_valid_slug(&slug) {
        return Err(ApiError::validation(
            "slug",
            "must be 2-63 characters of a-z, 0-9 and -, starting with a letter or digit",
        ));
    }
    let name = match body.get("name") {
        None | Some(Value::Null) => slug.clone(),
        Some(v) => text("name", v, 1, 100)?,
    };
    let parent = state
        .store
        .get_tenant(auth.tenant())
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    if let Some(id) = body.get("parentId").filter(|v| !v.is_null())
        && id.as_str() != Some(parent.id.as_str())
    {
        return Err(ApiError::validation(
            "parentId",
            "must be the id of the caller's own tenant",
        ));
    }
    let child = state
        .store
        .create_child_tenant(&parent.slug, &slug, &name)
        .await?;
    Ok(HttpResponse::Created().json(TenantView::from(child)))
}

/// `GET /tenants`: the caller's child tenants.
pub async fn list_children(
    auth: Authed<need::SettingsRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let children = state.store.list_children(auth.tenant()).await?;
    let views: Vec<TenantView> = children.into_iter().map(TenantView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"tenants": views})))
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
            "ageGateEnabled" => p.age_gate_enabled = Some(boolean(f, value)?),
            "ageGateMinAge" => {
                p.age_gate_min_age = Some(
                    value
                        .as_u64()
                        .filter(|n| (1..=99).contains(n))
                        .ok_or_else(|| {
                            ApiError::validation(f, "must be a whole number from 1 to 99")
                        })? as u8,
                )
            }
            "contentWarning" => p.content_warning = Some(nullable(value, |v| text(f, v, 1, 1000))?),
            "botAvatar" => p.bot_avatar = Some(nullable(value, |v| url(f, v))?),
            "visitorAuthMode" => {
                p.visitor_auth_mode = Some(nullable(value, |v| {
                    one_of(f, v, VisitorAuthMode::parse, &VisitorAuthMode::names())
                })?)
            }
            "bookingCtaEnabled" => p.booking_cta_enabled = Some(boolean(f, value)?),
            "answerGeneralQuestions" => p.answer_general_questions = Some(boolean(f, value)?),
            "voiceEnabled" => p.voice_enabled = Some(boolean(f, value)?),
            "voiceProvider" => p.voice_provider = Some(nullable(value, |v| text(f, v, 1, 50))?),
            "voicePhoneNumber" => {
                p.voice_phone_number = Some(nullable(value, |v| phone_number(f, v))?)
            }
            "voiceAssistantId" => {
                p.voice_assistant_id = Some(nullable(value, |v| text(f, v, 1, 200))?)
            }
            "voiceConfig" => p.voice_config = Some(nullable(value, |v| voice_config(f, v))?),
            _ if READ_ONLY.contains(&f) => {
                return Err(ApiError::validation(f, "is read-only"));
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    Ok(p)
}

fn url(field: &str, value: &Value) -> Result<String, ApiError> {
    match value.as_str() {
        Some(s)
            if s.len() <= 2048
                && (s.starts_with("https://") || s.starts_with("http://"))
                && s.split_once("://").is_some_and(|(_, rest)| {
                    !rest.is_empty()
                        && !rest.starts_with('/')
                        && !rest.contains(char::is_whitespace)
                }) =>
        {
            Ok(s.to_string())
        }
        _ => Err(ApiError::validation(
            field,
            "must be an http(s) URL of at most 2048 characters",
        )),
    }
}

/// BCP-47 as people write it: a 2-3 letter language, then subtags of 2-8 letters or digits.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn voice_config(field: &str, value: &Value) -> Result<VoiceConfig, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::validation(field, "must be an object or null"))?;
    let mut config = VoiceConfig::default();
    for (key, value) in object {
        let name = format!("{field}.{key}");
        let f = name.as_str();
        match key.as_str() {
            "voiceId" => config.voice_id = nullable(value, |v| text(f, v, 1, 200))?,
            "language" => {
                config.language = nullable(value, |v| match v.as_str() {
                    Some(tag) if is_language_tag(tag) => Ok(tag.to_string()),
                    _ => Err(ApiError::validation(
                        f,
                        "must be a BCP-47 language tag like fr-FR",
                    )),
                })?
            }
            "firstMessage" => config.first_message = nullable(value, |v| text(f, v, 1, 1000))?,
            "endCallPhrases" => {
                config.end_call_phrases = nullable(value, |v| {
                    let items =
                        v.as_array()
                            .filter(|items| items.len() <= 20)
                            .ok_or_else(|| {
                                ApiError::validation(f, "must be a list of at most 20 phrases")
                            })?;
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| text(&format!("{f}[{i}]"), item, 1, 100))
                        .collect()
                })?
            }
            "maxCallDuration" => {
                config.max_call_duration = nullable(value, |v| {
                    v.as_u64()
                        .filter(|n| (10..=7200).contains(n))
                        .map(|n| n as u32)
                        .ok_or_else(|| {
                            ApiError::validation(
                                f,
                                "must be a whole number of seconds from 10 to 7200",
                            )
                        })
                })?
            }
            _ => return Err(ApiError::validation(f, "unknown field")),
        }
    }
    Ok(config)
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
            (json!({"ageGateEnabled": "yes"}), "ageGateEnabled"),
            (json!({"ageGateMinAge": 0}), "ageGateMinAge"),
            (json!({"ageGateMinAge": 18.5}), "ageGateMinAge"),
            (json!({"contentWarning": ""}), "contentWarning"),
            (json!({"botAvatar": "javascript:alert(1)"}), "botAvatar"),
            (json!({"botAvatar": "https://"}), "botAvatar"),
            (json!({"visitorAuthMode": "password"}), "visitorAuthMode"),
            (json!({"bookingCtaEnabled": 1}), "bookingCtaEnabled"),
            (
                json!({"voicePhoneNumber": "0123456789"}),
                "voicePhoneNumber",
            ),
            (json!({"voicePhoneNumber": "+0123"}), "voicePhoneNumber"),
            (
                json!({"voicePhoneNumber": "+1234567890123456"}),
                "voicePhoneNumber",
            ),
            (json!({"voiceConfig": "fr"}), "voiceConfig"),
            (
                json!({"voiceConfig": {"language": "french!"}}),
                "voiceConfig.language",
            ),
            (
                json!({"voiceConfig": {"maxCallDuration": 5}}),
                "voiceConfig.maxCallDuration",
            ),
            (
                json!({"voiceConfig": {"endCallPhrases": ["bye", ""]}}),
                "voiceConfig.endCallPhrases[1]",
            ),
            (json!({"voiceConfig": {"speed": 2}}), "voiceConfig.speed"),
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

    #[test]
    fn hosted_api_settings_apply_and_null_clears() {
        let t = apply(json!({
            "ageGateEnabled": true, "ageGateMinAge": 21, "contentWarning": "Mature themes.",
            "botAvatar": "https://cdn.example.com/bot.png", "visitorAuthMode": "otp",
            "bookingCtaEnabled": true, "voiceEnabled": true, "voiceProvider": "vapi",
            "voicePhoneNumber": "+33123456789", "voiceAssistantId": "asst_1",
            "voiceConfig": {"voiceId": "v1", "language": "fr-FR", "firstMessage": "Bonjour",
                            "endCallPhrases": ["au revoir"], "maxCallDuration": 600}
        }))
        .unwrap();
        let x = &t.extra;
        assert!(x.age_gate_enabled && x.booking_cta_enabled && x.voice_enabled);
        assert_eq!(x.age_gate_min_age, 21);
        assert_eq!(x.visitor_auth_mode, Some(VisitorAuthMode::Otp));
        assert_eq!(x.voice_phone_number.as_deref(), Some("+33123456789"));
        let voice = x.voice_config.clone().unwrap();
        assert_eq!(voice.language.as_deref(), Some("fr-FR"));
        assert_eq!(voice.max_call_duration, Some(600));

        let mut t = t;
        read_patch(
            json!({"botAvatar": null, "voiceConfig": null, "visitorAuthMode": null})
                .as_object()
                .unwrap(),
        )
        .unwrap()
        .apply(&mut t);
        assert_eq!(t.extra.bot_avatar, None);
        assert_eq!(t.extra.voice_config, None);
        assert_eq!(t.extra.visitor_auth_mode, None);
        assert_eq!(t.extra.content_warning.as_deref(), Some("Mature themes."));
    }

    #[test]
    fn records_stored_before_the_hosted_api_settings_read_their_defaults() {
        let mut stored = serde_json::to_value(Tenant::new(
            "ten_1".into(),
            "acme",
            "Acme",
            Default::default(),
        ))
        .unwrap();
        for key in [
            "ageGateEnabled",
            "ageGateMinAge",
            "voiceConfig",
            "botAvatar",
        ] {
            stored.as_object_mut().unwrap().remove(key).unwrap();
        }
        let t: Tenant = serde_json::from_value(stored).unwrap();
        assert_eq!(t.extra, TenantExtra::default());
        assert_eq!(t.extra.age_gate_min_age, 18);
    }
}
