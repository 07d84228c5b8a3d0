//! Signing in with an API token, and out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::{html, html_status, see_other};
use crate::api::AppState;
use crate::auth::token::{SecretKind, hash_secret, hex, is_well_formed, mint};
use crate::auth::{Guard, budget_key, client_ip_text};
use crate::clock::Timestamp;
use crate::domain::Session;
use crate::web::WebError;
use crate::web::form::FormData;
use crate::web::layout::bare_page;
use crate::web::session::{self, csrf_matches, csrf_of, presented, removal_cookie, same_origin};

fn form_page(notice: Option<&str>, error: Option<&str>) -> maud::Markup {
    bare_page(
        "Sign in",
        html! {
            @if let Some(text) = notice {
                p.notice role="status" { (text) }
            }
            form.card method="post" action="/dashboard/-/sign-in" {
                @if let Some(text) = error {
                    p.notice.error role="alert" id="token-error" { (text) }
                }
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="off"
                    spellcheck="false" autofocus aria-describedby="token-help";
                p.help #token-help {
                    "Paste an API token of your tenant (it starts with " code { "ak_" } "). "
                    "The first one comes from " code { "animam bootstrap" } ". "
                    "The dashboard shows the pages the token's scopes allow."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /dashboard`: the sign-in form, or the tenant's overview for a live session.
pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    if let Some(secret) = presented(&req)
        && let Ok(session) = session::resolve(&state, &secret).await
    {
        return Ok(see_other(format!("/dashboard/{}", session.tenant)));
    }
    let ended = req
        .query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("ended="));
    let notice = match ended {
        Some("expired") => Some("Your session expired. Sign in again."),
        Some("token") => Some("The token of your session was revoked or expired. Sign in again."),
        Some("out") => Some("You are signed out."),
        _ => None,
    };
    Ok(html(form_page(notice, None)))
}

/// `POST /dashboard/-/sign-in`: checks the token in the live credential table and opens a
/// session. Attempts are counted per client IP.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    guard: web::Data<Guard>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    same_origin(&req)?;
    let ip = client_ip_text(&req, &state.config.trusted_proxies);
    // The API's failed-authentication budget, shared: failures on either count together,
    // and an address over it is refused before its token is looked at.
    guard.refuse_throttled(&ip)?;
    state.sign_in_limiter.check(&budget_key(&ip))?;
    let token = form.text("token");
    let token = token.trim();
    let now = Timestamp::now();
    let credential = is_well_formed(SecretKind::ApiToken, token)
        .then(|| state.credentials.get(&hash_secret(token)))
        .flatten()
        .filter(|c| c.token_id().is_some());
    let Some(credential) = credential else {
        guard.count_failure(&ip);
        log::info!("dashboard: failed sign-in from {ip}");
        return Ok(html_status(
            StatusCode::UNAUTHORIZED,
            form_page(
                None,
                Some(
                    "That token is not valid: check that you pasted it whole, and that it was not revoked.",
                ),
            ),
        ));
    };
    if credential.is_expired(now) {
        return Ok(html_status(
            StatusCode::UNAUTHORIZED,
            form_page(None, Some("That token has expired.")),
        ));
    }
    // A browser that signs in again leaves its previous session behind: end it.
    if let Some(previous) = presented(&req) {
        state
            .store
            .delete_session(&hex(&hash_secret(&previous)))
            .await?;
    }
    let dashboard = &state.config.dashboard;
    let minted = mint(SecretKind::Session);
    let session = Session {
        tenant: credential.tenant.clone(),
        token_id: credential.token_id().unwrap_or_default().to_string(),
        token_hash: hex(&hash_secret(token)),
        scopes: credential.scopes,
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus_secs(i64::from(dashboard.session_max_secs)),
    };
    state.store.create_session(&minted.hash, session).await?;
    credential.touch(now);
    log::info!(
        "dashboard: {} signed in to {}",
        credential.label(),
        credential.tenant
    );
    let cookie = session::session_cookie(
        minted.secret,
        dashboard.secure_cookies,
        dashboard.session_max_secs,
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/dashboard/{}", credential.tenant),
        ))
        .cookie(cookie)
        .finish())
}

/// `POST /dashboard/-/sign-out`: deletes the session (CSRF-checked) and drops the cookie.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: FormData,
) -> Result<HttpResponse, WebError> {
    same_origin(&req)?;
    let secret = presented(&req).ok_or(WebError::SignIn(None))?;
    csrf_matches(&csrf_of(&secret), form.csrf())?;
    state
        .store
        .delete_session(&hex(&hash_secret(&secret)))
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard?ended=out"))
        .cookie(removal_cookie())
        .finish())
}
