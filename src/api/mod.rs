//! The HTTP API: one file per resource, and here the single route table that drives the
//! router and the route/scope tests.

pub mod audit;
pub mod chat;
pub mod conversations;
pub mod corpus;
mod csv_format;
pub mod extract;
pub mod fields;
pub mod segments;
mod state;
pub mod tenant;
pub mod tokens;
pub mod widget;

use actix_web::dev::Service;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpResponse, Responder, Route, web};
use serde::Serialize;

pub use state::AppState;

use crate::domain::Scope;
use crate::error::{ApiError, ErrorCode};

#[derive(Serialize, Debug, Clone, Copy)]
pub struct Pagination {
    pub page: usize,
    pub limit: usize,
    pub total: usize,
    pub pages: usize,
}

/// One entry of the route table. `scope` is documentation the tests hold the handler to: the
/// handler's `Authed<need::X>` argument is what enforces it, and the table-driven test checks
/// that exactly `X` (and `*`) gets through.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub scope: Option<Scope>,
    /// Whether a credential of the tenant is needed. True for every route with a `scope`;
    /// also for routes open to any credential whatever its scopes (`tokens/self`).
    pub authenticated: bool,
    /// The handler as an actix route answering the given method.
    make: Box<dyn Fn(Method) -> Route>,
}

impl RouteSpec {
    fn new<F, Args>(method: Method, path: &'static str, scope: Option<Scope>, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        RouteSpec {
            method,
            path,
            scope,
            authenticated: scope.is_some(),
            make: Box::new(move |method| web::method(method).to(handler.clone())),
        }
    }

    /// A route for any credential of the tenant, whatever its scopes (`AnyScope`).
    fn any_credential<F, Args>(method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        RouteSpec {
            authenticated: true,
            ..RouteSpec::new(method, path, None, handler)
        }
    }
}

/// Every route of the API. Resources are registered with literal paths before those with
/// parameters (see `configure`), so `tokens/self` is not taken for a token id.
pub fn routes() -> Vec<RouteSpec> {
    use Method as M;
    use Scope as S;
    let tenant = "/tenants/{slug}";
    vec![
        RouteSpec::new(M::GET, "/health", None, health),
        RouteSpec::new(M::POST, "/chat/{slug}", None, chat::chat),
        RouteSpec::new(M::OPTIONS, "/chat/{slug}", None, chat::preflight),
        RouteSpec::new(M::GET, "/widget.js", None, widget::script),
        RouteSpec::new(M::GET, "/widget/config/{slug}", None, widget::config),
        RouteSpec::new(M::GET, tenant, Some(S::SettingsRead), tenant::get),
        RouteSpec::new(M::PUT, tenant, Some(S::SettingsWrite), tenant::update),
        RouteSpec::new(M::PATCH, tenant, Some(S::SettingsWrite), tenant::update),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus",
            Some(S::CorpusRead),
            corpus::list,
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/corpus",
            Some(S::CorpusWrite),
            corpus::create,
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/corpus/import",
            Some(S::CorpusWrite),
            corpus::import,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus/export",
            Some(S::CorpusRead),
            corpus::export,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusRead),
            corpus::get,
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusWrite),
            corpus::update,
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/corpus/{id}",
            Some(S::CorpusWrite),
            corpus::delete,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/segments",
            Some(S::SegmentsRead),
            segments::list,
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/segments",
            Some(S::SegmentsWrite),
            segments::create,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsRead),
            segments::get,
        ),
        RouteSpec::new(
            M::PATCH,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsWrite),
            segments::update,
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/segments/{id}",
            Some(S::SegmentsWrite),
            segments::delete,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations",
            Some(S::ConversationsRead),
            conversations::list,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations/export",
            Some(S::ConversationsRead),
            conversations::export,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/conversations/{id}",
            Some(S::ConversationsRead),
            conversations::get,
        ),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/tokens",
            Some(S::TokensRead),
            tokens::list,
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/tokens",
            Some(S::TokensWrite),
            tokens::create,
        ),
        RouteSpec::new(
            M::DELETE,
            "/tenants/{slug}/tokens/{id}",
            Some(S::TokensWrite),
            tokens::delete,
        ),
        RouteSpec::new(
            M::POST,
            "/tenants/{slug}/tokens/{id}/rotate",
            Some(S::TokensWrite),
            tokens::rotate,
        ),
        RouteSpec::any_credential(M::GET, "/tenants/{slug}/tokens/self", tokens::whoami),
        RouteSpec::new(
            M::GET,
            "/tenants/{slug}/audit",
            Some(S::TokensRead),
            audit::list,
        ),
    ]
}

/// Every tenant route starts with this; they are registered inside one scope of that prefix.
const TENANT_PREFIX: &str = "/tenants/{slug}";

/// Registers the table: one actix resource per path, answering 405 for other methods.
///
/// actix matches a request against resources one after the other, with a regular expression
/// for each pattern that has a `{param}`. Tenant routes sit in one `/tenants/{slug}` scope, so
/// a request meets one regex for the prefix and then mostly plain string comparisons, instead
/// of a regex per tenant route (that matching was ~14% of a `GET corpus/{id}`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for spec in routes() {
        let mut made = vec![(spec.make)(spec.method.clone())];
        // Every GET also answers HEAD (actix sends the headers without the body).
        if spec.method == Method::GET {
            made.push((spec.make)(Method::HEAD));
        }
        match by_path.iter_mut().find(|(path, _)| *path == spec.path) {
            Some((_, routes)) => routes.extend(made),
            None => by_path.push((spec.path, made)),
        }
    }
    // A literal path only ever matches itself: registering it before paths with `{params}`
    // keeps `/tokens/self` from being read as `/tokens/{id}`. The sort is stable.
    by_path.sort_by_key(|(path, _)| path.matches('{').count());
    let resource = |path: &str, routes: Vec<Route>| {
        routes.into_iter().fold(
            web::resource(path).default_service(web::to(method_not_allowed)),
            |resource, route| resource.route(route),
        )
    };
    let mut tenant_scope = web::scope(TENANT_PREFIX).default_service(web::to(route_not_found));
    for (path, routes) in by_path {
        match path.strip_prefix(TENANT_PREFIX) {
            Some(rest) => tenant_scope = tenant_scope.service(resource(rest, routes)),
            None => {
                cfg.service(resource(path, routes));
            }
        }
    }
    // Every answer of a tenant route whose credential was counted carries the budget.
    cfg.service(tenant_scope.wrap_fn(|req, service| {
        let call = service.call(req);
        async move {
            let mut response = call.await?;
            crate::auth::rate_limit_headers(&mut response);
            Ok(response)
        }
    }));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "Method not allowed on this route",
    ))
}

pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("Route"))
}
