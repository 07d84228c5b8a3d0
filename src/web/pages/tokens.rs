//! API Tokens: list, create (the secret shown once), revoke behind a confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::{html, html_status, nav, see_other, when};
use crate::api::AppState;
use crate::api::tokens::{CreateToken, issue};
use crate::auth::need;
use crate::domain::{Scope, TokenRecord};
use crate::web::WebError;
use crate::web::form::{FieldErrors, FormData};
use crate::web::layout::{csrf_field, field_error, form_error, page};
use crate::web::session::Dash;

/// What the create form shows again after a refusal.
#[derive(Default)]
struct Draft {
    name: String,
    scopes: Vec<String>,
    expires: String,
}

fn create_form(
    t: &str,
    csrf: &str,
    held: &dyn Fn(Scope) -> bool,
    draft: &Draft,
    errors: &FieldErrors,
) -> Markup {
    let offered: Vec<Scope> = Scope::EVERY.into_iter().filter(|s| held(*s)).collect();
    html! {
        form.card #create method="post" action={ "/dashboard/" (t) "/tokens" } {
            h2 { "Create a token" }
            (form_error(errors))
            (csrf_field(csrf))
            label for="name" { "Name" }
            input #name name="name" required maxlength="100" value=(draft.name)
                aria-describedby="name-error" placeholder="e.g. CI import job";
            (field_error(errors, "name"))
            fieldset aria-describedby="scopes-error" {
                legend { "Scopes" }
                p.help { "Grant only what the token's holder needs. You can grant scopes your own token holds." }
                div.checks {
                    @for scope in &offered {
                        @let id = format!("scope-{}", scope.as_str().replace([':', '*'], "-"));
                        label.check for=(id) {
                            input type="checkbox" id=(id) name="scopes" value=(scope.as_str())
                                checked[draft.scopes.iter().any(|s| s == scope.as_str())];
                            code { (scope.as_str()) }
                        }
                    }
                }
                (field_error(errors, "scopes"))
            }
            label for="expiresAt" { "Expires on (optional, at 00:00 UTC)" }
            input #expiresAt type="date" name="expiresAt" value=(draft.expires)
                aria-describedby="expiresAt-error";
            (field_error(errors, "expiresAt"))
            button type="submit" { "Create token" }
        }
    }
}

async fn list_page(
    dash: &Dash<impl crate::web::session::PageNeed>,
    state: &AppState,
    notice: Option<&str>,
    draft: &Draft,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let t = dash.tenant.as_str();
    let tokens: Vec<TokenRecord> = state.store.list_tokens(Some(t)).await?;
    let can = |s| dash.can(s);
    let writable = dash.can(Scope::TokensWrite);
    let body = html! {
        @if let Some(text) = notice {
            p.notice role="status" { (text) }
        }
        div.table-wrap {
            table {
                caption { (super::count(tokens.len(), "token", "tokens")) }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Prefix" } th scope="col" { "Scopes" }
                    th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" }
                    @if writable { th scope="col" { span.sr-only { "Actions" } } }
                } }
                tbody {
                    @for token in &tokens {
                        tr {
                            td { (token.name) }
                            td { code { (token.prefix) "…" } }
                            td { @for name in token.scopes.names() { code.scope { (name) } " " } }
                            td { (when(token.created_at)) }
                            td { (state.credentials.last_used_of(token).map(when).unwrap_or_else(|| "never".into())) }
                            td { (token.expires_at.map(when).unwrap_or_else(|| "never".into())) }
                            @if writable {
                                td { a.danger href={ "/dashboard/" (t) "/tokens/" (token.id) "/revoke" }
                                    aria-label={ "Revoke " (token.name) } { "Revoke" } }
                            }
                        }
                    }
                }
            }
        }
        @if writable {
            (create_form(t, &dash.csrf, &can, draft, errors))
        }
    };
    Ok(page("API Tokens", &nav(dash, &can, "tokens"), body))
}

pub async fn list(
    req: HttpRequest,
    dash: Dash<need::TokensRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let notice = req
        .query_string()
        .contains("done=revoked")
        .then_some("The token was revoked. Anything using it is refused from now on.");
    Ok(html(
        list_page(
            &dash,
            &state,
            notice,
            &Draft::default(),
            &FieldErrors::default(),
        )
        .await?,
    ))
}

/// `POST /dashboard/{slug}/tokens`: the secret is in this response and nowhere else.
pub async fn create(
    dash: Dash<need::TokensWrite>,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    let draft = Draft {
        name: form.text("name"),
        scopes: form.all("scopes"),
        expires: form.text("expiresAt").trim().to_string(),
    };
    let expires_at = (!draft.expires.is_empty()).then(|| format!("{}T00:00:00Z", draft.expires));
    let request = CreateToken::new(draft.name.clone(), draft.scopes.clone(), expires_at);
    let (record, secret) = match issue(
        &state,
        &dash.tenant,
        dash.scopes,
        dash.actor.clone(),
        request,
    )
    .await
    {
        Ok(created) => created,
        Err(e) => {
            let mut errors = FieldErrors::from_api(e)?;
            if errors.of("expiresAt").is_some() {
                errors = FieldErrors::from_api(crate::error::ApiError::validation(
                    "expiresAt",
                    "must be a date in the future",
                ))?;
            }
            let markup = list_page(&dash, &state, None, &draft, &errors).await?;
            return Ok(html_status(StatusCode::BAD_REQUEST, markup));
        }
    };
    let t = dash.tenant.as_str();
    let can = |s| dash.can(s);
    let body = html! {
        section.card.secret role="alert" {
            h2 { "Copy your new token now" }
            p.warning {
                strong { "It will not be shown again." }
                " Animam keeps only a hash of it. If you lose it, revoke it and create another."
            }
            label for="secret" { "Token “" (record.name) "”" }
            div.copy-row {
                input #secret.mono type="text" readonly value=(secret) spellcheck="false";
                button type="button" data-copy="secret" { "Copy" }
            }
            p.help { "Scopes: " @for name in record.scopes.names() { code.scope { (name) } " " } }
            p { a.button href={ "/dashboard/" (t) "/tokens" } { "I have copied it" } }
        }
    };
    Ok(html_status(
        StatusCode::CREATED,
        page("Token created", &nav(&dash, &can, "tokens"), body),
    ))
}

pub async fn confirm_revoke(
    dash: Dash<need::TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let token = state
        .store
        .get_token(&path.1)
        .await?
        .filter(|tok| tok.tenant == t)
        .ok_or_else(|| WebError::NotFound("No such token.".into()))?;
    let can = |s| dash.can(s);
    let body = html! {
        form.card method="post" action={ "/dashboard/" (t) "/tokens/" (token.id) "/revoke" } {
            (csrf_field(&dash.csrf))
            p {
                "Revoke the token " strong { (token.name) } " (" code { (token.prefix) "…" } ")? "
                "Every request and dashboard session using it is refused at once. This cannot be undone."
            }
            div.actions {
                button.danger type="submit" { "Revoke token" }
                a.button.secondary href={ "/dashboard/" (t) "/tokens" } { "Cancel" }
            }
        }
    };
    Ok(html(page(
        "Revoke token",
        &nav(&dash, &can, "tokens"),
        body,
    )))
}

pub async fn revoke(
    dash: Dash<need::TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    dash.check_csrf(form.csrf())?;
    crate::api::tokens::revoke(
        &state,
        &dash.tenant,
        dash.scopes,
        dash.actor.clone(),
        &path.1,
    )
    .await?;
    Ok(see_other(format!(
        "/dashboard/{}/tokens?done=revoked",
        dash.tenant
    )))
}
