//! `/tenants/{slug}/mcp-tools`: the tenant's own MCP server, whose tools the bot offers the
//! model. The API key is sealed before it reaches the store and never shown again: answers
//! say `hasApiKey`.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AppState;
use super::extract::ApiJson;
use super::fields::{known_keys, nullable, text};
use crate::auth::{Authed, need};
use crate::chat::mcp_client::{McpTools, check_url};
use crate::error::{ApiError, ApiResult};
use crate::store::{McpSettings, McpSettingsWrite};

pub const DEFAULT_MAX_TOOLS: u32 = 10;
const MAX_TOOLS: u64 = 20;
const FIELDS: [&str; 3] = ["mcpToolsUrl", "mcpToolsApiKey", "mcpToolsMaxTools"];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct McpToolsView {
    mcp_tools_url: Option<String>,
    has_api_key: bool,
    mcp_tools_max_tools: u32,
}

impl From<Option<McpSettings>> for McpToolsView {
    fn from(settings: Option<McpSettings>) -> Self {
        match settings {
            Some(s) => McpToolsView {
                mcp_tools_url: Some(s.url),
                has_api_key: s.api_key_sealed.is_some(),
                mcp_tools_max_tools: s.max_tools,
            },
            None => McpToolsView {
                mcp_tools_url: None,
                has_api_key: false,
                mcp_tools_max_tools: DEFAULT_MAX_TOOLS,
            },
        }
    }
}

fn max_tools(value: &Value) -> ApiResult<u32> {
    value
        .as_u64()
        .filter(|n| (1..=MAX_TOOLS).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            ApiError::validation(
                "mcpToolsMaxTools",
                format!("must be a whole number from 1 to {MAX_TOOLS}"),
            )
        })
}

/// The key as sent: `null` or `""` clears it. Kept exactly (a key is not trimmed into a
/// different key), and refused with spaces or non-ASCII, which no header could carry.
fn api_key(value: &Value) -> ApiResult<Option<String>> {
    let key = nullable(value, |v| text("mcpToolsApiKey", v, 0, 4096))?;
    let sent = value.as_str().unwrap_or_default();
    match key {
        Some(k) if k.is_empty() => Ok(None),
        // It travels in an HTTP header: visible ASCII only.
        Some(_) if !sent.bytes().all(|b| b.is_ascii_graphic()) => Err(ApiError::validation(
            "mcpToolsApiKey",
            "must be printable ASCII without spaces",
        )),
        other => Ok(other),
    }
}

pub async fn get(
    auth: Authed<need::SettingsRead>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let settings = state.store.mcp_settings_async(auth.tenant()).await?;
    Ok(HttpResponse::Ok().json(McpToolsView::from(settings)))
}

/// Sets the fields sent; the others keep their stored value (or their default). A
/// `mcpToolsUrl` of `null` removes the whole configuration, like DELETE.
pub async fn put(
    auth: Authed<need::SettingsWrite>,
    state: web::Data<AppState>,
    body: ApiJson<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    known_keys(&body, &FIELDS, None)?;
    let url = match body.get("mcpToolsUrl") {
        Some(Value::Null) => return delete(auth, state).await,
        Some(v) => {
            let url = text("mcpToolsUrl", v, 1, 2000)?;
            check_url(&url, state.config.chat.mcp_allow_http_loopback)
                .map_err(|rule| ApiError::validation("mcpToolsUrl", rule))?;
            Some(url)
        }
        None => None,
    };
    let key = body.get("mcpToolsApiKey").map(api_key).transpose()?;
    let max = body.get("mcpToolsMaxTools").map(max_tools).transpose()?;
    let current = state.store.mcp_settings_async(auth.tenant()).await?;
    let Some(url) = url.or_else(|| current.as_ref().map(|c| c.url.clone())) else {
        return Err(ApiError::validation(
            "mcpToolsUrl",
            "is required to configure an MCP tools server",
        ));
    };
    let tenant = state
        .store
        .get_tenant(auth.tenant())
        .await?
        .ok_or_else(ApiError::tenant_not_found)?;
    let context = McpTools::key_context(&tenant.id);
    let write = McpSettingsWrite {
        url,
        api_key_sealed: key.map(|k| k.map(|k| state.secrets.seal(&context, k.as_bytes()))),
        max_tools: max
            .or_else(|| current.as_ref().map(|c| c.max_tools))
            .unwrap_or(DEFAULT_MAX_TOOLS),
    };
    let saved = state
        .store
        .put_mcp_settings(auth.tenant(), write, auth.principal.actor())
        .await?;
    state.mcp_tools.invalidate(auth.tenant());
    Ok(HttpResponse::Ok().json(McpToolsView::from(Some(saved))))
}

/// Removes the configuration (and the key); answers the now-empty settings either way.
pub async fn delete(
    auth: Authed<need::SettingsWrite>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    state
        .store
        .delete_mcp_settings(auth.tenant(), auth.principal.actor())
        .await?;
    state.mcp_tools.invalidate(auth.tenant());
    Ok(HttpResponse::Ok().json(McpToolsView::from(None)))
}
