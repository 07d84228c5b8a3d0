//! The dashboard's pages, one file per section.

pub mod conversations;
pub mod corpus;
pub mod home;
pub mod preview;
pub mod segments;
pub mod settings;
pub mod sign_in;
pub mod tokens;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::Markup;

use super::WebError;
use super::layout::Nav;
use super::session::{Dash, PageNeed};
use crate::clock::Timestamp;

const CSS: &str = include_str!("../../../assets/dashboard.css");
const JS: &str = include_str!("../../../assets/dashboard.js");

/// `GET /dashboard/-/static/{file}`: the stylesheet and script, compiled into the binary.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, WebError> {
    let (content_type, body) = match file.as_str() {
        "dashboard.css" => ("text/css; charset=utf-8", CSS),
        "dashboard.js" => ("text/javascript; charset=utf-8", JS),
        _ => return Err(WebError::NotFound("No such file.".into())),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body))
}

pub fn html(markup: Markup) -> HttpResponse {
    html_status(StatusCode::OK, markup)
}

pub fn html_status(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// 303 to another dashboard page (after a form: the browser's reload does not post again).
pub fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

pub fn nav<'a, N: PageNeed>(
    dash: &'a Dash<N>,
    can: &'a dyn Fn(crate::domain::Scope) -> bool,
    active: &'a str,
) -> Nav<'a> {
    Nav {
        tenant: &dash.tenant,
        can,
        csrf: &dash.csrf,
        active,
    }
}

/// A timestamp as shown in tables: `2026-01-15 10:30 UTC`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// `1 entry`, `3 entries`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
