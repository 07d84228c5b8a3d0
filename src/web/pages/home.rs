//! `GET /dashboard/{slug}`: the overview, or what to do first when the corpus is empty.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};

use super::{html, nav};
use crate::api::AppState;
use crate::domain::Scope;
use crate::web::WebError;
use crate::web::layout::page;
use crate::web::session::Dash;

/// The `<script>` tag a site embeds, for this server and tenant.
pub fn embed_snippet(req: &HttpRequest, tenant: &str) -> String {
    let info = req.connection_info();
    format!(
        r#"<script src="{}://{}/widget.js" data-tenant="{tenant}" defer></script>"#,
        info.scheme(),
        info.host()
    )
}

pub async fn show(
    req: HttpRequest,
    dash: Dash,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let t = dash.tenant.as_str();
    let entries = if dash.can(Scope::CorpusRead) {
        Some(state.store.list_corpus(t, None, 0, 1).await?.total)
    } else {
        None
    };
    let snippet = embed_snippet(&req, t);
    let can = |s| dash.can(s);
    let first_run = entries == Some(0);
    let body: Markup = html! {
        @if first_run {
            section.card.first-run {
                h2 { "Welcome: your bot knows nothing yet" }
                p { "The bot answers visitors from your knowledge base, which is empty. Next:" }
                ol {
                    @if dash.can(Scope::CorpusWrite) {
                        li { a href={ "/dashboard/" (t) "/corpus/import" } { "Import a CSV" }
                             " of questions and answers, or "
                             a href={ "/dashboard/" (t) "/corpus/new" } { "add an entry" } "." }
                    } @else {
                        li { "Ask someone with the corpus:write scope to add entries." }
                    }
                    li { a href={ "/dashboard/" (t) "/preview" } { "Try the widget" } " on the preview page." }
                    li { "Embed it on your site with the snippet below." }
                }
            }
        } @else {
            ul.stats {
                @if let Some(n) = entries {
                    li { strong { (super::count(n, "entry", "entries")) } " in the knowledge base" }
                }
            }
        }
        section.card {
            h2 { "Embed the widget" }
            p { "Paste this before " code { "</body>" } " on your site:" }
            pre.snippet { code #snippet { (snippet) } }
            button.secondary type="button" data-copy="snippet" { "Copy snippet" }
        }
        section.card {
            h2 { "What this token can do" }
            ul.scopes {
                @for scope in dash.scopes.iter() {
                    li { code { (scope.as_str()) } @if scope == Scope::All { " (every scope)" } }
                }
            }
        }
    };
    Ok(html(page(
        if first_run { "Get started" } else { "Overview" },
        &nav(&dash, &can, "home"),
        body,
    )))
}
