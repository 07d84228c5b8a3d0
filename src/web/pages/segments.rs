//! Segments: list, create, edit, set default, delete. The form becomes the API's JSON body
//! and goes through the API's own validation (`api::segments::new_segment`/`change_segment`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::{html, html_status, nav, see_other};
use crate::api::AppState;
use crate::api::segments::{change_segment, new_segment};
use crate::auth::need;
use crate::domain::{Scope, Segment};
use crate::error::{ApiError, ErrorCode};
use crate::web::WebError;
use crate::web::form::{FieldErrors, FormData};
use crate::web::layout::{csrf_field, field_error, form_error, page};
use crate::web::session::{Dash, PageNeed};

fn base(t: &str) -> String {
    format!("/dashboard/{t}/segments")
}

/// What the form shows.
#[derive(Default)]
struct Draft {
    name: String,
    slug: String,
    welcome: String,
    starters: String,
    prompt: String,
    active: bool,
}

impl From<&Segment> for Draft {
    fn from(s: &Segment) -> Self {
        Draft {
            name: s.name.clone(),
            slug: s.slug.clone(),
            welcome: s.welcome_message.clone(),
            starters: s
                .conversation_starters
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            prompt: s.system_prompt.clone(),
            active: s.is_active,
        }
    }
}

impl Draft {
    fn read(form: &FormData) -> Self {
        Draft {
            name: form.text("name"),
            slug: form.text("slug").trim().to_string(),
            welcome: form.text("welcomeMessage"),
            starters: form.text("conversationStarters"),
            prompt: form.text("systemPrompt"),
            active: form.get("isActive").is_some(),
        }
    }

    /// The API body these fields stand for (starters one per line).
    fn changes(&self, with_slug: bool) -> Map<String, Value> {
        let starters: Vec<Value> = self
            .starters
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| json!({ "text": l }))
            .collect();
        let mut map = Map::new();
        map.insert("name".into(), json!(self.name));
        if with_slug && !self.slug.is_empty() {
            map.insert("slug".into(), json!(self.slug));
        }
        map.insert("welcomeMessage".into(), json!(self.welcome));
        map.insert("systemPrompt".into(), json!(self.prompt));
        map.insert("conversationStarters".into(), Value::Array(starters));
        map.insert("isActive".into(), json!(self.active));
        map
    }
}

fn segment_form(
    action: &str,
    csrf: &str,
    draft: &Draft,
    creating: bool,
    errors: &FieldErrors,
) -> Markup {
    html! {
        form.card #segment-form method="post" action=(action) {
            (form_error(errors))
            (csrf_field(csrf))
            label for="name" { "Name" }
            input #name name="name" required maxlength="100" value=(draft.name) aria-describedby="name-error";
            (field_error(errors, "name"))
            label for="slug" { "Slug" @if creating { " (optional: made from the name)" } }
            @if creating {
                input #slug name="slug" maxlength="63" value=(draft.slug) pattern="[a-z0-9-]+" aria-describedby="slug-error";
            } @else {
                input #slug value=(draft.slug) readonly aria-describedby="slug-help";
                p.help #slug-help { "The slug is fixed: knowledge base entries refer to it." }
            }
            (field_error(errors, "slug"))
            label for="welcomeMessage" { "Welcome message" }
            input #welcomeMessage name="welcomeMessage" maxlength="2000" value=(draft.welcome) aria-describedby="welcomeMessage-error";
            (field_error(errors, "welcomeMessage"))
            label for="conversationStarters" { "Conversation starters (one per line, at most 10)" }
            textarea #conversationStarters name="conversationStarters" rows="4" aria-describedby="conversationStarters-error" { (draft.starters) }
            (field_error(errors, "conversationStarters"))
            label for="systemPrompt" { "Instructions for the bot in this segment" }
            textarea #systemPrompt name="systemPrompt" rows="4" aria-describedby="systemPrompt-error" { (draft.prompt) }
            (field_error(errors, "systemPrompt"))
            label.check { input type="checkbox" name="isActive" value="true" checked[draft.active]; "Active" }
            (field_error(errors, "isActive"))
            button type="submit" { @if creating { "Create segment" } @else { "Save" } }
        }
    }
}

async fn list_page<N: PageNeed>(
    dash: &Dash<N>,
    state: &AppState,
    notice: Option<&str>,
    failure: Option<&str>,
    draft: &Draft,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let t = dash.tenant.as_str();
    let segments = state.store.list_segments(t).await?;
    let writable = dash.can(Scope::SegmentsWrite);
    let can = |s| dash.can(s);
    let body = html! {
        @if let Some(text) = notice { p.notice role="status" { (text) } }
        @if let Some(text) = failure { p.notice.error role="alert" { (text) } }
        div.table-wrap {
            table {
                caption { (super::count(segments.len(), "segment", "segments")) }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Slug" } th scope="col" { "Status" }
                    th scope="col" { "Welcome message" }
                    @if writable { th scope="col" { span.sr-only { "Actions" } } }
                } }
                tbody {
                    @for s in &segments {
                        tr {
                            td { (s.name) }
                            td { code { (s.slug) } }
                            td { @if s.is_default { strong { "default" } } @else if s.is_active { "active" } @else { "inactive" } }
                            td { (s.welcome_message) }
                            @if writable {
                                td.row-actions {
                                    a href={ (base(t)) "/" (s.id) "/edit" } aria-label={ "Edit " (s.name) } { "Edit" }
                                    @if !s.is_default {
                                        form.inline method="post" action={ (base(t)) "/" (s.id) "/default" } {
                                            (csrf_field(&dash.csrf))
                                            button.link type="submit" aria-label={ "Make " (s.name) " the default" } { "Make default" }
                                        }
                                        form.inline method="post" action={ (base(t)) "/" (s.id) "/delete" }
                                            data-confirm={ "Delete the segment " (s.name) "?" } {
                                            (csrf_field(&dash.csrf))
                                            button.link.danger-text type="submit" aria-label={ "Delete " (s.name) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if writable {
            h2 { "New segment" }
            (segment_form(&base(t), &dash.csrf, draft, true, errors))
        }
    };
    Ok(page("Segments", &nav(dash, &can, "segments"), body))
}

pub async fn list(
    req: HttpRequest,
    dash: Dash<need::SegmentsRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let notice = match req.query_string() {
        "done=saved" => Some("The segment was saved."),
        "done=deleted" => Some("The segment was deleted."),
        "done=default" => Some("The default segment changed."),
        _ => None,
    };
    let draft = Draft {
        active: true,
        ..Draft::default()
    };
    Ok(html(
        list_page(&dash, &state, notice, None, &draft, &FieldErrors::default()).await?,
    ))
}

pub async fn create(
    dash: Dash<need::SegmentsWrite>,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let draft = Draft::read(&form);
    let created: Result<_, ApiError> = async {
        let new = new_segment(&draft.changes(true))?;
        Ok(state.store.create_segment(&dash.tenant, new).await?)
    }
    .await;
    match created {
        Ok(_) => Ok(see_other(format!("{}?done=saved", base(&dash.tenant)))),
        Err(e) => {
            let errors = FieldErrors::from_api(e)?;
            let markup = list_page(&dash, &state, None, None, &draft, &errors).await?;
            Ok(html_status(StatusCode::BAD_REQUEST, markup))
        }
    }
}

async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Segment, WebError> {
    state
        .store
        .find_segment(tenant, id)
        .await?
        .ok_or_else(|| WebError::NotFound("No such segment.".into()))
}

pub async fn edit_form(
    dash: Dash<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let segment = find(&state, &dash.tenant, &path.1).await?;
    let can = |s| dash.can(s);
    let action = format!("{}/{}/edit", base(&dash.tenant), segment.id);
    let body = segment_form(
        &action,
        &dash.csrf,
        &Draft::from(&segment),
        false,
        &FieldErrors::default(),
    );
    Ok(html(page(
        "Edit segment",
        &nav(&dash, &can, "segments"),
        body,
    )))
}

pub async fn update(
    dash: Dash<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let segment = find(&state, &dash.tenant, &path.1).await?;
    let mut draft = Draft::read(&form);
    draft.slug = segment.slug.clone();
    match change_segment(&state, &dash.tenant, &segment.id, &draft.changes(false)).await {
        Ok(_) => Ok(see_other(format!("{}?done=saved", base(&dash.tenant)))),
        Err(e) => {
            let errors = FieldErrors::from_api(e)?;
            let can = |s| dash.can(s);
            let action = format!("{}/{}/edit", base(&dash.tenant), segment.id);
            let body = segment_form(&action, &dash.csrf, &draft, false, &errors);
            Ok(html_status(
                StatusCode::BAD_REQUEST,
                page("Edit segment", &nav(&dash, &can, "segments"), body),
            ))
        }
    }
}

pub async fn make_default(
    dash: Dash<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let mut changes = Map::new();
    changes.insert("isDefault".into(), Value::Bool(true));
    if let Err(e) = change_segment(&state, &dash.tenant, &path.1, &changes).await {
        return refused(&dash, &state, e).await;
    }
    Ok(see_other(format!("{}?done=default", base(&dash.tenant))))
}

pub async fn delete(
    dash: Dash<need::SegmentsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    if let Err(e) = state.store.delete_segment(&dash.tenant, &path.1).await {
        return refused(&dash, &state, e.into()).await;
    }
    Ok(see_other(format!("{}?done=deleted", base(&dash.tenant))))
}

/// A refused change (the default cannot go, a segment in use cannot be deleted): the list
/// again with the reason.
async fn refused(
    dash: &Dash<need::SegmentsWrite>,
    state: &AppState,
    e: ApiError,
) -> Result<HttpResponse, WebError> {
    let reason = match e.code {
        ErrorCode::Conflict | ErrorCode::ValidationFailed => e.message,
        _ => return Err(e.into()),
    };
    let draft = Draft {
        active: true,
        ..Draft::default()
    };
    let markup = list_page(
        dash,
        state,
        None,
        Some(&reason),
        &draft,
        &FieldErrors::default(),
    )
    .await?;
    Ok(html_status(StatusCode::CONFLICT, markup))
}
