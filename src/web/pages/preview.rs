//! `GET /dashboard/{slug}/preview`: a demo page embedding the widget for this tenant.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;

use super::home::embed_snippet;
use super::{html, nav};
use crate::api::AppState;
use crate::web::WebError;
use crate::web::layout::page;
use crate::web::session::Dash;

pub async fn show(
    req: HttpRequest,
    dash: Dash,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let tenant = state
        .store
        .get_tenant(t)
        .await?
        .ok_or_else(|| WebError::NotFound("Tenant not found.".into()))?;
    let can = |s| dash.can(s);
    let body = html! {
        p {
            "This page embeds the widget exactly as your site would, with the snippet below. "
            "Open it with the round button at the bottom right and ask a question: answers come "
            "from your knowledge base."
        }
        @if !tenant.allowed_domains.is_empty() {
            p.notice {
                "Your tenant only allows the origins " (tenant.allowed_domains.join(", "))
                ": if this server's host is not among them the preview cannot chat."
            }
        }
        pre.snippet { code #snippet { (embed_snippet(&req, t)) } }
        button.secondary type="button" data-copy="snippet" { "Copy snippet" }
        script src="/widget.js" data-tenant=(t) defer {}
    };
    Ok(html(page(
        "Widget preview",
        &nav(&dash, &can, "preview"),
        body,
    )))
}
