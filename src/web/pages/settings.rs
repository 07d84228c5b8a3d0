//! Settings: the bot's persona and the widget's appearance, with the API's validation
//! (`api::tenant::read_patch`) and messages beside the fields, and a live preview of the
//! widget in the tenant's colours.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::{html, html_status, nav, see_other};
use crate::api::AppState;
use crate::api::tenant::read_patch;
use crate::auth::need;
use crate::domain::{ContentPolicy, Scope, Tenant, Tone};
use crate::web::WebError;
use crate::web::form::{FieldErrors, FormData};
use crate::web::layout::{csrf_field, field_error, form_error, page};
use crate::web::session::{Dash, PageNeed};

/// The form's values, as text.
struct Draft {
    name: String,
    bot_name: String,
    bot_title: String,
    bot_lore: String,
    bot_tone: String,
    content_policy: String,
    primary_color: String,
    secondary_color: String,
    allowed_domains: String,
    show_ai_badge: bool,
    use_tutoiement: bool,
    allow_emojis: bool,
    is_activated: bool,
    answer_general_questions: bool,
}

impl From<&Tenant> for Draft {
    fn from(t: &Tenant) -> Self {
        Draft {
            name: t.name.clone(),
            bot_name: t.bot_name.clone(),
            bot_title: t.bot_title.clone(),
            bot_lore: t.bot_lore.clone(),
            bot_tone: t.bot_tone.as_str().to_string(),
            content_policy: t.content_policy.as_str().to_string(),
            primary_color: t.primary_color.clone(),
            secondary_color: t.secondary_color.clone(),
            allowed_domains: t.allowed_domains.join("\n"),
            show_ai_badge: t.show_ai_badge,
            use_tutoiement: t.use_tutoiement,
            allow_emojis: t.allow_emojis,
            is_activated: t.is_activated,
            answer_general_questions: t.extra.answer_general_questions,
        }
    }
}

impl Draft {
    fn read(form: &FormData) -> Self {
        Draft {
            name: form.text("name"),
            bot_name: form.text("botName"),
            bot_title: form.text("botTitle"),
            bot_lore: form.text("botLore"),
            bot_tone: form.text("botTone"),
            content_policy: form.text("contentPolicy"),
            primary_color: form.text("primaryColor").trim().to_string(),
            secondary_color: form.text("secondaryColor").trim().to_string(),
            allowed_domains: form.text("allowedDomains"),
            show_ai_badge: form.get("showAiBadge").is_some(),
            use_tutoiement: form.get("useTutoiement").is_some(),
            allow_emojis: form.get("allowEmojis").is_some(),
            is_activated: form.get("isActivated").is_some(),
            answer_general_questions: form.get("answerGeneralQuestions").is_some(),
        }
    }

    /// The API's PATCH body for these values.
    fn changes(&self) -> Map<String, Value> {
        let domains: Vec<Value> = self
            .allowed_domains
            .split(['\n', ','])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| json!(d))
            .collect();
        let mut map = Map::new();
        for (key, value) in [
            ("name", json!(self.name)),
            ("botName", json!(self.bot_name)),
            ("botTitle", json!(self.bot_title)),
            ("botLore", json!(self.bot_lore)),
            ("botTone", json!(self.bot_tone)),
            ("contentPolicy", json!(self.content_policy)),
            ("primaryColor", json!(self.primary_color)),
            ("secondaryColor", json!(self.secondary_color)),
            ("allowedDomains", Value::Array(domains)),
            ("showAiBadge", json!(self.show_ai_badge)),
            ("useTutoiement", json!(self.use_tutoiement)),
            ("allowEmojis", json!(self.allow_emojis)),
            ("isActivated", json!(self.is_activated)),
            (
                "answerGeneralQuestions",
                json!(self.answer_general_questions),
            ),
        ] {
            map.insert(key.to_string(), value);
        }
        map
    }
}

fn text_field(id: &str, label: &str, value: &str, max: usize, errors: &FieldErrors) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(id) value=(value) maxlength=(max) aria-describedby={ (id) "-error" };
        (field_error(errors, id))
    }
}

fn settings_page<N: PageNeed>(
    dash: &Dash<N>,
    draft: &Draft,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Markup {
    let writable = dash.can(Scope::SettingsWrite);
    let can = |s| dash.can(s);
    let check = |name: &str, label: &str, on: bool| {
        html! {
            label.check { input type="checkbox" name=(name) value="true" checked[on] disabled[!writable]; (label) }
            (field_error(errors, name))
        }
    };
    let body = html! {
        @if let Some(text) = notice { p.notice role="status" { (text) } }
        div.settings {
            form.card #settings method="post" action={ "/dashboard/" (dash.tenant) "/settings" } {
                (form_error(errors))
                (csrf_field(&dash.csrf))
                fieldset disabled[!writable] {
                    legend { "Persona" }
                    (text_field("name", "Company name", &draft.name, 100, errors))
                    (text_field("botName", "Bot name", &draft.bot_name, 100, errors))
                    (text_field("botTitle", "Bot title", &draft.bot_title, 200, errors))
                    label for="botLore" { "Background the bot knows about itself" }
                    textarea #botLore name="botLore" rows="4" maxlength="5000" aria-describedby="botLore-error" { (draft.bot_lore) }
                    (field_error(errors, "botLore"))
                    div.row {
                        div {
                            label for="botTone" { "Tone" }
                            select #botTone name="botTone" aria-describedby="botTone-error" {
                                @for tone in Tone::ALL { option value=(tone.as_str()) selected[tone.as_str() == draft.bot_tone] { (tone.as_str()) } }
                            }
                            (field_error(errors, "botTone"))
                        }
                        div {
                            label for="contentPolicy" { "Content policy" }
                            select #contentPolicy name="contentPolicy" aria-describedby="contentPolicy-error" {
                                @for p in ContentPolicy::ALL { option value=(p.as_str()) selected[p.as_str() == draft.content_policy] { (p.as_str()) } }
                            }
                            (field_error(errors, "contentPolicy"))
                        }
                    }
                    (check("useTutoiement", "Address visitors informally (tutoiement)", draft.use_tutoiement))
                    (check("allowEmojis", "Allow emojis", draft.allow_emojis))
                    (check("answerGeneralQuestions", "Let the language model answer questions the knowledge base does not cover (when one is configured)", draft.answer_general_questions))
                }
                fieldset disabled[!writable] {
                    legend { "Appearance and access" }
                    div.row {
                        div {
                            label for="primaryColor" { "Primary colour" }
                            input #primaryColor type="color" name="primaryColor" value=(draft.primary_color) aria-describedby="primaryColor-error";
                            (field_error(errors, "primaryColor"))
                        }
                        div {
                            label for="secondaryColor" { "Text colour on primary" }
                            input #secondaryColor type="color" name="secondaryColor" value=(draft.secondary_color) aria-describedby="secondaryColor-error";
                            (field_error(errors, "secondaryColor"))
                        }
                    }
                    (check("showAiBadge", "Show the AI badge", draft.show_ai_badge))
                    label for="allowedDomains" { "Sites allowed to embed the widget (one per line; empty = any)" }
                    textarea #allowedDomains name="allowedDomains" rows="3" aria-describedby="allowedDomains-error" placeholder="example.com\n*.example.com" { (draft.allowed_domains) }
                    (field_error(errors, "allowedDomains"))
                    (check("isActivated", "Bot activated", draft.is_activated))
                }
                @if writable { button type="submit" { "Save settings" } }
            }
            aside.card.preview-pane aria-label="Widget preview" {
                h2 { "Preview" }
                div #widget-preview.mock {
                    div.mock-head {
                        div { b #mock-name { (draft.bot_name) } small #mock-title { (draft.bot_title) } }
                        span #mock-badge.ai hidden[!draft.show_ai_badge] { "AI" }
                    }
                    div.mock-body { div.mock-bubble { "Hello! How can I help?" } div.mock-me { "When are you open?" } }
                    div.mock-launch aria-hidden="true" { "●" }
                }
                p.help { "Updates as you edit; saved settings reach the widget on its next page load." }
            }
        }
    };
    page("Settings", &nav(dash, &can, "settings"), body)
}

pub async fn show(
    req: HttpRequest,
    dash: Dash<need::SettingsRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let tenant = state
        .store
        .get_tenant(&dash.tenant)
        .await?
        .ok_or_else(|| WebError::NotFound("Tenant not found.".into()))?;
    let notice = (req.query_string() == "done=saved").then_some("Settings saved.");
    Ok(html(settings_page(
        &dash,
        &Draft::from(&tenant),
        &FieldErrors::default(),
        notice,
    )))
}

pub async fn save(
    dash: Dash<need::SettingsWrite>,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let draft = Draft::read(&form);
    let saved: Result<_, crate::error::ApiError> = async {
        let patch = read_patch(&draft.changes())?;
        Ok(state
            .store
            .update_tenant(&dash.tenant, patch, dash.actor.clone())
            .await?)
    }
    .await;
    match saved {
        Ok(_) => Ok(see_other(format!(
            "/dashboard/{}/settings?done=saved",
            dash.tenant
        ))),
        Err(e) => {
            let errors = FieldErrors::from_api(e)?;
            Ok(html_status(
                StatusCode::BAD_REQUEST,
                settings_page(&dash, &draft, &errors, None),
            ))
        }
    }
}
