//! The dashboard at `/dashboard`: HTML pages for a tenant's operators, signed in with an API
//! token and then carried by a session cookie. Pages call the same validation and store
//! functions as the API handlers (`api::tokens::issue`, `api::corpus::parse_import`, ...), so
//! a rule holds the same way on both faces.
//!
//! Like the API, the dashboard has one route table ([`routes`]): it drives the router and the
//! tests that walk every page for its access rule.

mod error;
mod form;
mod layout;
mod pages;
mod session;

use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{FromRequest, Handler, HttpResponse, Responder, Route, web};

pub use error::WebError;
pub use session::{COOKIE_NAME, Dash};

use crate::domain::Scope;

/// Who may open a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the sign-in form, static files).
    Public,
    /// Any signed-in session of the tenant in the path.
    Session,
    /// A session whose token holds this scope.
    Scope(Scope),
}

/// One dashboard route: method, path (under `/dashboard`), access rule and handler.
pub struct PageSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    make: Box<dyn Fn() -> Route>,
}

impl PageSpec {
    fn new<F, Args>(method: Method, path: &'static str, access: Access, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let m = method.clone();
        PageSpec {
            method,
            path,
            access,
            make: Box::new(move || web::method(m.clone()).to(handler.clone())),
        }
    }
}

/// Every dashboard route, literal paths before `{id}` ones. Routes that are not a tenant's
/// live under `/dashboard/-/`: no tenant slug starts with `-`, so a tenant named `static` or
/// `sign-in` still has its pages.
pub fn routes() -> Vec<PageSpec> {
    use Access::{Public, Scope as Needs, Session};
    use Method as M;
    use Scope as S;
    use pages::{conversations, corpus, home, preview, segments, settings, sign_in, tokens};
    vec![
        PageSpec::new(M::GET, "/dashboard", Public, sign_in::form),
        PageSpec::new(M::POST, "/dashboard/-/sign-in", Public, sign_in::submit),
        PageSpec::new(M::POST, "/dashboard/-/sign-out", Session, sign_in::sign_out),
        PageSpec::new(M::GET, "/dashboard/-/static/{file}", Public, pages::asset),
        PageSpec::new(M::GET, "/dashboard/{slug}", Session, home::show),
        PageSpec::new(M::GET, "/dashboard/{slug}/preview", Session, preview::show),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/tokens",
            Needs(S::TokensRead),
            tokens::list,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/tokens",
            Needs(S::TokensWrite),
            tokens::create,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/tokens/{id}/revoke",
            Needs(S::TokensWrite),
            tokens::confirm_revoke,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/tokens/{id}/revoke",
            Needs(S::TokensWrite),
            tokens::revoke,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/corpus",
            Needs(S::CorpusRead),
            corpus::list,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/corpus/new",
            Needs(S::CorpusWrite),
            corpus::new_form,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/corpus/new",
            Needs(S::CorpusWrite),
            corpus::create,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/corpus/import",
            Needs(S::CorpusWrite),
            corpus::import_page,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/corpus/import",
            Needs(S::CorpusWrite),
            corpus::import,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/corpus/export",
            Needs(S::CorpusRead),
            corpus::export,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/corpus/{id}/edit",
            Needs(S::CorpusWrite),
            corpus::edit_form,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/corpus/{id}/edit",
            Needs(S::CorpusWrite),
            corpus::update,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/corpus/{id}/delete",
            Needs(S::CorpusWrite),
            corpus::delete,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/conversations",
            Needs(S::ConversationsRead),
            conversations::list,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/conversations/export",
            Needs(S::ConversationsRead),
            conversations::export,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/conversations/{id}",
            Needs(S::ConversationsRead),
            conversations::transcript,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/segments",
            Needs(S::SegmentsRead),
            segments::list,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/segments",
            Needs(S::SegmentsWrite),
            segments::create,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/segments/{id}/edit",
            Needs(S::SegmentsWrite),
            segments::edit_form,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/segments/{id}/edit",
            Needs(S::SegmentsWrite),
            segments::update,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/segments/{id}/default",
            Needs(S::SegmentsWrite),
            segments::make_default,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/segments/{id}/delete",
            Needs(S::SegmentsWrite),
            segments::delete,
        ),
        PageSpec::new(
            M::GET,
            "/dashboard/{slug}/settings",
            Needs(S::SettingsRead),
            settings::show,
        ),
        PageSpec::new(
            M::POST,
            "/dashboard/{slug}/settings",
            Needs(S::SettingsWrite),
            settings::save,
        ),
    ]
}

/// The dashboard's Content-Security-Policy: only its own files, no inline script or style,
/// no framing, forms posting only to itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Registers the table under one `/dashboard` scope with the security headers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for spec in routes() {
        let route = (spec.make)();
        match by_path.iter_mut().find(|(path, _)| *path == spec.path) {
            Some((_, routes)) => routes.push(route),
            None => by_path.push((spec.path, vec![route])),
        }
    }
    let mut scope = web::scope("/dashboard")
        .wrap(headers)
        .default_service(web::to(not_found));
    for (path, routes) in by_path {
        let rest = path.strip_prefix("/dashboard").unwrap_or(path);
        let resource = routes.into_iter().fold(
            web::resource(if rest.is_empty() { "" } else { rest })
                .default_service(web::to(method_not_allowed)),
            |resource, route| resource.route(route),
        );
        scope = scope.service(resource);
    }
    cfg.service(scope);
}

async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound("This page does not exist.".into()))
}

async fn method_not_allowed() -> Result<HttpResponse, WebError> {
    Err(WebError::MethodNotAllowed)
}
