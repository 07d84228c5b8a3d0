//! Settings, resolved once at start-up: defaults < animam.toml < `ANIMAM_*` environment < flags.
//! Every setting has a default, a key in animam.toml and an environment variable; a malformed
//! file, an unknown key or an invalid value is an error that names the key.

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_FILE: &str = "animam.toml";

#[derive(Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Requests per minute per credential; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    pub max_body_kib: u32,
    /// Body limit of the CSV import, which takes whole knowledge bases in one request.
    pub import_max_body_mib: u32,
    pub chat: ChatConfig,
    pub store: StoreConfig,
    pub dashboard: DashboardConfig,
    pub limits: LimitsConfig,
    /// Requests from one client IP that may fail authentication (401) in a minute; beyond
    /// it, every authenticated request from that IP gets 429 until the window passes. 0 = off.
    pub failed_auth_per_ip_per_minute: u32,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies).
    pub trusted_proxies: TrustedProxies,
    pub audit: AuditConfig,
}

/// The audit log's bounds.
#[derive(Clone, PartialEq, Debug)]
pub struct AuditConfig {
    /// Entries older than this are pruned; 0 = kept until `max_entries_per_tenant` pushes
    /// them out.
    pub max_age_days: u32,
    /// The newest entries kept per tenant.
    pub max_entries_per_tenant: u32,
    /// Denied requests (401/403) recorded per client IP per minute; more are only counted
    /// in the log line. 0 = none recorded.
    pub denied_per_ip_per_minute: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            max_age_days: 90,
            max_entries_per_tenant: 10_000,
            denied_per_ip_per_minute: 10,
        }
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max)?,
            None => max,
        };
        Some(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// The `trusted_proxies` setting: empty (the default) trusts no one, so `X-Forwarded-For`
/// is ignored and the peer address is the client.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(networks: Vec<Cidr>) -> Self {
        TrustedProxies(networks)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn parse<'a>(key: &str, items: impl IntoIterator<Item = &'a str>) -> Result<Self, ConfigError> {
        let mut networks = Vec::new();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            networks.push(Cidr::parse(item).ok_or_else(|| {
                ConfigError(format!(
                    "{key}: '{item}' is not an address or a CIDR network like 10.0.0.0/8"
                ))
            })?);
        }
        Ok(TrustedProxies(networks))
    }
}

/// What one client connection may hold, and for how long.
#[derive(Clone, PartialEq, Debug)]
pub struct LimitsConfig {
    /// A request's head (request line and headers) must arrive within this time.
    pub header_timeout_secs: u32,
    /// A request's whole body must arrive within this time after its head.
    pub body_timeout_secs: u32,
    /// An idle keep-alive connection is closed after this time.
    pub keep_alive_secs: u32,
    /// After the response, the client gets this long to close its side.
    pub disconnect_timeout_secs: u32,
    /// Concurrent connections per client IP; 0 = no cap.
    pub max_connections_per_ip: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout_secs: 10,
            body_timeout_secs: 60,
            keep_alive_secs: 15,
            disconnect_timeout_secs: 5,
            max_connections_per_ip: 256,
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct DashboardConfig {
    /// Marks the session cookie `Secure` (browsers then send it over HTTPS only). Turn it on
    /// when the server is reached through TLS.
    pub secure_cookies: bool,
    /// A session unused for this long ends.
    pub session_idle_secs: u32,
    /// A session ends this long after sign-in, however active.
    pub session_max_secs: u32,
    /// Sign-in attempts per minute per client IP; 0 = off.
    pub sign_in_per_ip_per_minute: u32,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            secure_cookies: false,
            session_idle_secs: 12 * 3600,
            session_max_secs: 7 * 24 * 3600,
            sign_in_per_ip_per_minute: 10,
        }
    }
}

/// Which engine holds the data: the embedded redb file (the default), or a PostgreSQL-
/// compatible database shared by several replicas.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StoreBackend {
    Redb,
    Postgres,
}

impl StoreBackend {
    fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "redb" => Ok(StoreBackend::Redb),
            "postgres" => Ok(StoreBackend::Postgres),
            other => Err(ConfigError(format!(
                "{key}: '{other}' is not a store backend (redb or postgres)"
            ))),
        }
    }
}

#[derive(Clone, PartialEq)]
pub struct StoreConfig {
    /// The database's page cache, in MiB: most of the server's resident memory (redb).
    pub cache_mib: u32,
    pub backend: StoreBackend,
    /// `postgres://user:password@host:port/db?...`: holds a password, so it is only ever
    /// printed through `redact_url`.
    pub url: Option<String>,
    /// Connections each replica keeps open to PostgreSQL at most.
    pub pool_size: u32,
    /// Limit for opening one connection (and for waiting for a free one in the pool).
    pub connect_timeout_secs: u32,
    /// Server-side limit for one statement (`statement_timeout`), so a stuck query cannot
    /// hold a connection (and a writer) forever.
    pub statement_timeout_secs: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_mib: 64,
            backend: StoreBackend::Redb,
            url: None,
            pool_size: 16,
            connect_timeout_secs: 5,
            statement_timeout_secs: 30,
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("cache_mib", &self.cache_mib)
            .field("backend", &self.backend)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("statement_timeout_secs", &self.statement_timeout_secs)
            .finish()
    }
}

/// A PostgreSQL URL fit for logs: the password (in `user:password@` or a `password=`
/// parameter) replaced by `***`. Everything else is kept so an operator can tell which
/// database is meant.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        // The last '@' of the authority ends the user info (a password may contain '@' only
        // percent-encoded, but be safe with the last one).
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let user_info = &out[authority_start..authority_start + at];
            if let Some(colon) = user_info.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

/// `store.url`: a `postgres://` or `postgresql://` URL that tokio-postgres accepts. The
/// message never repeats the URL (it may hold a password).
pub fn parse_store_url(key: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
        return Err(ConfigError(format!(
            "{key}: must be a URL starting with postgres:// or postgresql://"
        )));
    }
    value
        .parse::<tokio_postgres::Config>()
        .map_err(|e| ConfigError(format!("{key}: not a valid PostgreSQL URL ({e})")))?;
    Ok(value.to_string())
}

#[derive(Clone, PartialEq)]
pub struct ChatConfig {
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    /// Name of the environment variable holding the LLM API key (the key itself never sits in
    /// the config file).
    pub llm_api_key_env: Option<String>,
    /// Whole-call limit for the LLM; on timeout the retrieval answer is used.
    pub llm_timeout_secs: u32,
    /// Longest retrieval answer, in characters.
    pub answer_max_chars: u32,
    /// Public chat requests per minute per client IP; 0 = off.
    pub rate_limit_per_ip_per_minute: u32,
    /// Public chat requests per minute per tenant; 0 = off.
    pub rate_limit_per_tenant_per_minute: u32,
    /// Messages (visitor and bot, both counted) one conversation may hold.
    pub max_messages_per_conversation: u32,
    /// LLM calls running at once; beyond it chats are answered from retrieval.
    pub llm_max_concurrent: u32,
    /// Whether a tenant's MCP tools URL may be plain `http://` to a loopback host (a local
    /// development server); otherwise only `https://` is accepted.
    pub mcp_allow_http_loopback: bool,
    /// Whole-call limit for one request to a tenant's MCP server (connect included).
    pub mcp_timeout_secs: u32,
    /// How long a tenant's discovered MCP tools are reused before `tools/list` runs again.
    pub mcp_cache_secs: u32,
    /// Form webhooks may be `http://` to a loopback address (development receivers); otherwise
    /// only `https://`.
    pub webhook_allow_http_loopback: bool,
    /// Delay before the first retry of a failed webhook delivery, in milliseconds; later
    /// retries wait 6, 30 and 180 times as long (10 s, 1 min, 5 min, 30 min by default).
    pub webhook_retry_base_ms: u32,
    /// Delivery attempts of one webhook before it is marked failed.
    pub webhook_max_attempts: u32,
    /// Whole-request limit of one webhook delivery.
    pub webhook_timeout_secs: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            llm_base_url: None,
            llm_model: None,
            llm_api_key_env: None,
            llm_timeout_secs: 20,
            answer_max_chars: 1200,
            rate_limit_per_ip_per_minute: 60,
            rate_limit_per_tenant_per_minute: 6000,
            max_messages_per_conversation: 1000,
            llm_max_concurrent: 16,
            mcp_allow_http_loopback: false,
            mcp_timeout_secs: 5,
            mcp_cache_secs: 300,
            webhook_allow_http_loopback: false,
            webhook_retry_base_ms: 10_000,
            webhook_max_attempts: 5,
            webhook_timeout_secs: 10,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            rate_limit_per_minute: 1000,
            max_body_kib: 1024,
            import_max_body_mib: 64,
            chat: ChatConfig::default(),
            store: StoreConfig::default(),
            dashboard: DashboardConfig::default(),
            limits: LimitsConfig::default(),
            failed_auth_per_ip_per_minute: 20,
            trusted_proxies: TrustedProxies::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Config {
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_kib as usize * 1024
    }

    pub fn import_max_body_bytes(&self) -> usize {
        self.import_max_body_mib as usize * 1024 * 1024
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("max_body_kib", &self.max_body_kib)
            .field("import_max_body_mib", &self.import_max_body_mib)
            .field("chat", &self.chat)
            .field("store", &self.store)
            .field("dashboard", &self.dashboard)
            .field("limits", &self.limits)
            .field(
                "failed_auth_per_ip_per_minute",
                &self.failed_auth_per_ip_per_minute,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("audit", &self.audit)
            .finish()
    }
}

impl fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The base URL may embed credentials (https://user:pass@host); never print it whole.
        f.debug_struct("ChatConfig")
            .field("llm_base_url", &self.llm_base_url.as_ref().map(|_| "***"))
            .field("llm_model", &self.llm_model)
            .field("llm_api_key_env", &self.llm_api_key_env)
            .field("llm_timeout_secs", &self.llm_timeout_secs)
            .field("answer_max_chars", &self.answer_max_chars)
            .field(
                "rate_limit_per_ip_per_minute",
                &self.rate_limit_per_ip_per_minute,
            )
            .field(
                "rate_limit_per_tenant_per_minute",
                &self.rate_limit_per_tenant_per_minute,
            )
            .field(
                "max_messages_per_conversation",
                &self.max_messages_per_conversation,
            )
            .field("llm_max_concurrent", &self.llm_max_concurrent)
            .field("mcp_allow_http_loopback", &self.mcp_allow_http_loopback)
            .field("mcp_timeout_secs", &self.mcp_timeout_secs)
            .field("mcp_cache_secs", &self.mcp_cache_secs)
            .field(
                "webhook_allow_http_loopback",
                &self.webhook_allow_http_loopback,
            )
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_timeout_secs", &self.webhook_timeout_secs)
            .finish()
    }
}

/// The values given on the command line; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    rate_limit_per_minute: Option<i64>,
    max_body_kib: Option<i64>,
    import_max_body_mib: Option<i64>,
    #[serde(default)]
    chat: FileChatConfig,
    #[serde(default)]
    store: FileStoreConfig,
    #[serde(default)]
    dashboard: FileDashboardConfig,
    #[serde(default)]
    limits: FileLimitsConfig,
    failed_auth_per_ip_per_minute: Option<i64>,
    trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    audit: FileAuditConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimitsConfig {
    header_timeout_secs: Option<i64>,
    body_timeout_secs: Option<i64>,
    keep_alive_secs: Option<i64>,
    disconnect_timeout_secs: Option<i64>,
    max_connections_per_ip: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileAuditConfig {
    max_age_days: Option<i64>,
    max_entries_per_tenant: Option<i64>,
    denied_per_ip_per_minute: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDashboardConfig {
    secure_cookies: Option<bool>,
    session_idle_secs: Option<i64>,
    session_max_secs: Option<i64>,
    sign_in_per_ip_per_minute: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileStoreConfig {
    cache_mib: Option<i64>,
    backend: Option<String>,
    url: Option<String>,
    pool_size: Option<i64>,
    connect_timeout_secs: Option<i64>,
    statement_timeout_secs: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileChatConfig {
    llm_base_url: Option<String>,
    llm_model: Option<String>,
    llm_api_key_env: Option<String>,
    llm_timeout_secs: Option<i64>,
    answer_max_chars: Option<i64>,
    rate_limit_per_ip_per_minute: Option<i64>,
    rate_limit_per_tenant_per_minute: Option<i64>,
    max_messages_per_conversation: Option<i64>,
    llm_max_concurrent: Option<i64>,
    mcp_allow_http_loopback: Option<bool>,
    mcp_timeout_secs: Option<i64>,
    mcp_cache_secs: Option<i64>,
    webhook_allow_http_loopback: Option<bool>,
    webhook_retry_base_ms: Option<i64>,
    webhook_max_attempts: Option<i64>,
    webhook_timeout_secs: Option<i64>,
}

/// Environment variables read, in the order they are documented.
pub const ENV_VARS: &[&str] = &[
    "ANIMAM_LISTEN",
    "ANIMAM_DATA_DIR",
    "ANIMAM_RATE_LIMIT_PER_MINUTE",
    "ANIMAM_MAX_BODY_KIB",
    "ANIMAM_IMPORT_MAX_BODY_MIB",
    "ANIMAM_CHAT_LLM_BASE_URL",
    "ANIMAM_CHAT_LLM_MODEL",
    "ANIMAM_CHAT_LLM_API_KEY_ENV",
    "ANIMAM_CHAT_LLM_TIMEOUT_SECS",
    "ANIMAM_CHAT_ANSWER_MAX_CHARS",
    "ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE",
    "ANIMAM_CHAT_RATE_LIMIT_PER_TENANT_PER_MINUTE",
    "ANIMAM_STORE_CACHE_MIB",
    "ANIMAM_STORE_BACKEND",
    "ANIMAM_STORE_URL",
    "ANIMAM_STORE_POOL_SIZE",
    "ANIMAM_STORE_CONNECT_TIMEOUT_SECS",
    "ANIMAM_STORE_STATEMENT_TIMEOUT_SECS",
    "ANIMAM_DASHBOARD_SECURE_COOKIES",
    "ANIMAM_DASHBOARD_SESSION_IDLE_SECS",
    "ANIMAM_DASHBOARD_SESSION_MAX_SECS",
    "ANIMAM_DASHBOARD_SIGN_IN_PER_IP_PER_MINUTE",
    "ANIMAM_LIMITS_HEADER_TIMEOUT_SECS",
    "ANIMAM_LIMITS_BODY_TIMEOUT_SECS",
    "ANIMAM_LIMITS_KEEP_ALIVE_SECS",
    "ANIMAM_LIMITS_DISCONNECT_TIMEOUT_SECS",
    "ANIMAM_LIMITS_MAX_CONNECTIONS_PER_IP",
    "ANIMAM_CHAT_MAX_MESSAGES_PER_CONVERSATION",
    "ANIMAM_CHAT_LLM_MAX_CONCURRENT",
    "ANIMAM_CHAT_WEBHOOK_ALLOW_HTTP_LOOPBACK",
    "ANIMAM_CHAT_WEBHOOK_RETRY_BASE_MS",
    "ANIMAM_CHAT_WEBHOOK_MAX_ATTEMPTS",
    "ANIMAM_CHAT_WEBHOOK_TIMEOUT_SECS",
    "ANIMAM_FAILED_AUTH_PER_IP_PER_MINUTE",
    "ANIMAM_TRUSTED_PROXIES",
    "ANIMAM_AUDIT_MAX_AGE_DAYS",
    "ANIMAM_AUDIT_MAX_ENTRIES_PER_TENANT",
    "ANIMAM_AUDIT_DENIED_PER_IP_PER_MINUTE",
    "ANIMAM_CHAT_MCP_ALLOW_HTTP_LOOPBACK",
    "ANIMAM_CHAT_MCP_TIMEOUT_SECS",
    "ANIMAM_CHAT_MCP_CACHE_SECS",
];

/// Which file to read: the `--config` flag, else `ANIMAM_CONFIG`, else `./animam.toml` if it
/// exists. An explicitly named file must exist; the implicit default may be absent.
pub fn locate_file(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    let explicit = flag
        .map(Path::to_path_buf)
        .or_else(|| env("ANIMAM_CONFIG").map(PathBuf::from));
    match explicit {
        Some(path) if path.is_file() => Ok(Some(path)),
        Some(path) => Err(ConfigError(format!(
            "config file {} does not exist",
            path.display()
        ))),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            Ok(default.is_file().then_some(default))
        }
    }
}

/// Reads the file (if any), the process environment and the flags into one `Config`.
pub fn load(config_flag: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let file = locate_file(config_flag, &env)?;
    let text = match &file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!("cannot read config file {}: {e}", path.display()))
        })?),
        None => None,
    };
    let source = file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    resolve(text.as_deref().map(|t| (source.as_str(), t)), &env, flags)
}

/// The pure merge: `file` is (name for messages, contents).
pub fn resolve(
    file: Option<(&str, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &FlagOverrides,
) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let parsed: FileConfig = match file {
        Some((name, text)) => toml::from_str(text)
            .map_err(|e| ConfigError(format!("invalid config file {name}: {e}")))?,
        None => FileConfig::default(),
    };

    // Addresses and paths: file, then environment.
    if let Some(v) = &parsed.listen {
        config.listen = parse_listen("listen", v)?;
    }
    if let Some(v) = env("ANIMAM_LISTEN") {
        config.listen = parse_listen("ANIMAM_LISTEN", &v)?;
    }
    if let Some(v) = parsed.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = env("ANIMAM_DATA_DIR") {
        config.data_dir = PathBuf::from(v);
    }

    // The store's backend and URL: file, then environment.
    if let Some(v) = &parsed.store.backend {
        config.store.backend = StoreBackend::parse("store.backend", v)?;
    }
    if let Some(v) = env("ANIMAM_STORE_BACKEND") {
        config.store.backend = StoreBackend::parse("ANIMAM_STORE_BACKEND", &v)?;
    }
    if let Some(v) = &parsed.store.url {
        config.store.url = Some(parse_store_url("store.url", v)?);
    }
    if let Some(v) = env("ANIMAM_STORE_URL") {
        config.store.url = Some(parse_store_url("ANIMAM_STORE_URL", &v)?);
    }

    // Whole numbers: the file's value, then the environment's, each range-checked.
    let chat = parsed.chat;
    let dashboard = parsed.dashboard;
    let limits = parsed.limits;
    let audit = parsed.audit;
    let numbers = [
        Number::new(
            "rate_limit_per_minute",
            parsed.rate_limit_per_minute,
            0,
            1_000_000,
            &mut config.rate_limit_per_minute,
        ),
        Number::new(
            "max_body_kib",
            parsed.max_body_kib,
            1,
            1024 * 1024,
            &mut config.max_body_kib,
        ),
        Number::new(
            "import_max_body_mib",
            parsed.import_max_body_mib,
            1,
            4096,
            &mut config.import_max_body_mib,
        ),
        Number::new(
            "store.cache_mib",
            parsed.store.cache_mib,
            8,
            1024 * 1024,
            &mut config.store.cache_mib,
        ),
        Number::new(
            "store.pool_size",
            parsed.store.pool_size,
            1,
            1000,
            &mut config.store.pool_size,
        ),
        Number::new(
            "store.connect_timeout_secs",
            parsed.store.connect_timeout_secs,
            1,
            600,
            &mut config.store.connect_timeout_secs,
        ),
        Number::new(
            "store.statement_timeout_secs",
            parsed.store.statement_timeout_secs,
            1,
            3600,
            &mut config.store.statement_timeout_secs,
        ),
        Number::new(
            "chat.llm_timeout_secs",
            chat.llm_timeout_secs,
            1,
            600,
            &mut config.chat.llm_timeout_secs,
        ),
        Number::new(
            "chat.answer_max_chars",
            chat.answer_max_chars,
            100,
            50_000,
            &mut config.chat.answer_max_chars,
        ),
        Number::new(
            "chat.rate_limit_per_ip_per_minute",
            chat.rate_limit_per_ip_per_minute,
            0,
            1_000_000,
            &mut config.chat.rate_limit_per_ip_per_minute,
        ),
        Number::new(
            "chat.rate_limit_per_tenant_per_minute",
            chat.rate_limit_per_tenant_per_minute,
            0,
            10_000_000,
            &mut config.chat.rate_limit_per_tenant_per_minute,
        ),
        Number::new(
            "dashboard.session_idle_secs",
            dashboard.session_idle_secs,
            1,
            365 * 24 * 3600,
            &mut config.dashboard.session_idle_secs,
        ),
        Number::new(
            "dashboard.session_max_secs",
            dashboard.session_max_secs,
            1,
            365 * 24 * 3600,
            &mut config.dashboard.session_max_secs,
        ),
        Number::new(
            "dashboard.sign_in_per_ip_per_minute",
            dashboard.sign_in_per_ip_per_minute,
            0,
            1_000_000,
            &mut config.dashboard.sign_in_per_ip_per_minute,
        ),
        Number::new(
            "limits.header_timeout_secs",
            limits.header_timeout_secs,
            1,
            3600,
            &mut config.limits.header_timeout_secs,
        ),
        Number::new(
            "limits.body_timeout_secs",
            limits.body_timeout_secs,
            1,
            24 * 3600,
            &mut config.limits.body_timeout_secs,
        ),
        Number::new(
            "limits.keep_alive_secs",
            limits.keep_alive_secs,
            0,
            3600,
            &mut config.limits.keep_alive_secs,
        ),
        Number::new(
            "limits.disconnect_timeout_secs",
            limits.disconnect_timeout_secs,
            1,
            3600,
            &mut config.limits.disconnect_timeout_secs,
        ),
        Number::new(
            "limits.max_connections_per_ip",
            limits.max_connections_per_ip,
            0,
            1_000_000,
            &mut config.limits.max_connections_per_ip,
        ),
        Number::new(
            "chat.max_messages_per_conversation",
            chat.max_messages_per_conversation,
            2,
            1_000_000,
            &mut config.chat.max_messages_per_conversation,
        ),
        Number::new(
            "chat.llm_max_concurrent",
            chat.llm_max_concurrent,
            1,
            100_000,
            &mut config.chat.llm_max_concurrent,
        ),
        Number::new(
            "chat.mcp_timeout_secs",
            chat.mcp_timeout_secs,
            1,
            120,
            &mut config.chat.mcp_timeout_secs,
        ),
        Number::new(
            "chat.mcp_cache_secs",
            chat.mcp_cache_secs,
            1,
            86_400,
            &mut config.chat.mcp_cache_secs,
        ),
        Number::new(
            "chat.webhook_retry_base_ms",
            chat.webhook_retry_base_ms,
            1,
            3_600_000,
            &mut config.chat.webhook_retry_base_ms,
        ),
        Number::new(
            "chat.webhook_max_attempts",
            chat.webhook_max_attempts,
            1,
            20,
            &mut config.chat.webhook_max_attempts,
        ),
        Number::new(
            "chat.webhook_timeout_secs",
            chat.webhook_timeout_secs,
            1,
            300,
            &mut config.chat.webhook_timeout_secs,
        ),
        Number::new(
            "failed_auth_per_ip_per_minute",
            parsed.failed_auth_per_ip_per_minute,
            0,
            1_000_000,
            &mut config.failed_auth_per_ip_per_minute,
        ),
        Number::new(
            "audit.max_age_days",
            audit.max_age_days,
            0,
            36_500,
            &mut config.audit.max_age_days,
        ),
        Number::new(
            "audit.max_entries_per_tenant",
            audit.max_entries_per_tenant,
            1,
            10_000_000,
            &mut config.audit.max_entries_per_tenant,
        ),
        Number::new(
            "audit.denied_per_ip_per_minute",
            audit.denied_per_ip_per_minute,
            0,
            1_000_000,
            &mut config.audit.denied_per_ip_per_minute,
        ),
    ];
    for number in numbers {
        if let Some(v) = number.file_value {
            *number.slot = in_range(number.key, v, number.min, number.max)?;
        }
        let var = number.env_var();
        if let Some(v) = env(&var) {
            *number.slot = in_range(&var, parse_int(&var, &v)?, number.min, number.max)?;
        }
    }

    // Optional strings: file, then environment.
    for (file_value, var, slot) in [
        (
            chat.llm_base_url,
            "ANIMAM_CHAT_LLM_BASE_URL",
            &mut config.chat.llm_base_url,
        ),
        (
            chat.llm_model,
            "ANIMAM_CHAT_LLM_MODEL",
            &mut config.chat.llm_model,
        ),
        (
            chat.llm_api_key_env,
            "ANIMAM_CHAT_LLM_API_KEY_ENV",
            &mut config.chat.llm_api_key_env,
        ),
    ] {
        if file_value.is_some() {
            *slot = file_value;
        }
        if let Some(v) = env(var) {
            *slot = Some(v);
        }
    }

    if let Some(v) = dashboard.secure_cookies {
        config.dashboard.secure_cookies = v;
    }
    if let Some(v) = env("ANIMAM_DASHBOARD_SECURE_COOKIES") {
        config.dashboard.secure_cookies = parse_bool("ANIMAM_DASHBOARD_SECURE_COOKIES", &v)?;
    }

    if let Some(v) = chat.mcp_allow_http_loopback {
        config.chat.mcp_allow_http_loopback = v;
    }
    if let Some(v) = env("ANIMAM_CHAT_MCP_ALLOW_HTTP_LOOPBACK") {
        config.chat.mcp_allow_http_loopback =
            parse_bool("ANIMAM_CHAT_MCP_ALLOW_HTTP_LOOPBACK", &v)?;
    }

    if let Some(v) = chat.webhook_allow_http_loopback {
        config.chat.webhook_allow_http_loopback = v;
    }
    if let Some(v) = env("ANIMAM_CHAT_WEBHOOK_ALLOW_HTTP_LOOPBACK") {
        config.chat.webhook_allow_http_loopback =
            parse_bool("ANIMAM_CHAT_WEBHOOK_ALLOW_HTTP_LOOPBACK", &v)?;
    }

    if let Some(list) = &parsed.trusted_proxies {
        config.trusted_proxies =
            TrustedProxies::parse("trusted_proxies", list.iter().map(String::as_str))?;
    }
    if let Some(v) = env("ANIMAM_TRUSTED_PROXIES") {
        config.trusted_proxies = TrustedProxies::parse("ANIMAM_TRUSTED_PROXIES", v.split(','))?;
    }

    if let Some(v) = &flags.listen {
        config.listen = parse_listen("--listen", v)?;
    }
    if let Some(v) = &flags.data_dir {
        config.data_dir = v.clone();
    }

    if let Some(url) = &config.chat.llm_base_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ConfigError(
            "chat.llm_base_url: must start with http:// or https://".to_string(),
        ));
    }
    if config.store.backend == StoreBackend::Postgres && config.store.url.is_none() {
        return Err(ConfigError(
            "store.url: must be set (postgres://user:password@host:5432/db) when \
             store.backend is postgres"
                .to_string(),
        ));
    }
    if config.chat.llm_base_url.is_some() && config.chat.llm_model.is_none() {
        return Err(ConfigError(
            "chat.llm_model: must be set when chat.llm_base_url is".to_string(),
        ));
    }
    Ok(config)
}

/// A whole-number setting: its animam.toml key (`chat.` for the [chat] table), the value the
/// file gave, its bounds and where it goes.
struct Number<'a> {
    key: &'static str,
    file_value: Option<i64>,
    min: i64,
    max: i64,
    slot: &'a mut u32,
}

impl<'a> Number<'a> {
    fn new(
        key: &'static str,
        file_value: Option<i64>,
        min: i64,
        max: i64,
        slot: &'a mut u32,
    ) -> Self {
        Number {
            key,
            file_value,
            min,
            max,
            slot,
        }
    }

    /// `chat.answer_max_chars` -> `ANIMAM_CHAT_ANSWER_MAX_CHARS`.
    fn env_var(&self) -> String {
        format!("ANIMAM_{}", self.key.replace('.', "_").to_ascii_uppercase())
    }
}

fn parse_listen(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError(format!(
            "{key}: '{value}' is not an address like 127.0.0.1:8080"
        ))
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{key}: '{value}' is not true or false"
        ))),
    }
}

fn parse_int(key: &str, value: &str) -> Result<i64, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("{key}: '{value}' is not a whole number")))
}

fn in_range(key: &str, value: i64, min: i64, max: i64) -> Result<u32, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ConfigError(format!(
            "{key}: {value} is out of range ({min} to {max})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_without_file_env_or_flags() {
        let config = resolve(None, &env_of(&[]), &FlagOverrides::default()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.rate_limit_per_minute, 1000);
        assert_eq!(config.max_body_kib, 1024);
    }

    #[test]
    fn file_then_env_then_flag_each_win() {
        let file = r#"
            listen = "127.0.0.1:1111"
            data_dir = "/from/file"
            rate_limit_per_minute = 5
            max_body_kib = 64
            [chat]
            llm_model = "file-model"
        "#;
        let no_env = env_of(&[]);
        let config = resolve(Some(("t.toml", file)), &no_env, &FlagOverrides::default()).unwrap();
        assert_eq!(config.listen.port(), 1111);
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.rate_limit_per_minute, 5);
        assert_eq!(config.max_body_kib, 64);
        assert_eq!(config.chat.llm_model.as_deref(), Some("file-model"));

        let env = env_of(&[
            ("ANIMAM_LISTEN", "127.0.0.1:2222"),
            ("ANIMAM_DATA_DIR", "/from/env"),
            ("ANIMAM_RATE_LIMIT_PER_MINUTE", "0"),
            ("ANIMAM_CHAT_LLM_MODEL", "env-model"),
        ]);
        let config = resolve(Some(("t.toml", file)), &env, &FlagOverrides::default()).unwrap();
        assert_eq!(config.listen.port(), 2222);
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        assert_eq!(config.rate_limit_per_minute, 0);
        assert_eq!(
            config.max_body_kib, 64,
            "file value kept when env is silent"
        );
        assert_eq!(config.chat.llm_model.as_deref(), Some("env-model"));

        let flags = FlagOverrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some("/from/flag".into()),
        };
        let config = resolve(Some(("t.toml", file)), &env, &flags).unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn errors_name_the_key() {
        let none = FlagOverrides::default();
        let no_env = env_of(&[]);
        let err = |file: &str| {
            resolve(Some(("t.toml", file)), &no_env, &none)
                .unwrap_err()
                .0
        };
        assert!(err("bogus = 1").contains("bogus"), "{}", err("bogus = 1"));
        assert!(err("[chat]\nllm_modle = \"x\"").contains("llm_modle"));
        assert!(err("listen = \"nowhere\"").contains("listen"));
        assert!(err("max_body_kib = 0").contains("max_body_kib"));
        assert!(err("rate_limit_per_minute = -1").contains("rate_limit_per_minute"));
        assert!(err("rate_limit_per_minute = \"many\"").contains("rate_limit_per_minute"));
        assert!(err("listen = ").contains("t.toml"));
        assert!(err("[chat]\nllm_base_url = \"ftp://x\"").contains("llm_base_url"));
        assert!(err("[chat]\nllm_base_url = \"http://x\"").contains("chat.llm_model"));
        assert!(err("[chat]\nanswer_max_chars = 5").contains("chat.answer_max_chars"));

        assert!(err("[dashboard]\nsecure_cookies = \"maybe\"").contains("secure_cookies"));
        assert!(err("[limits]\nbody_timeout_secs = 0").contains("limits.body_timeout_secs"));
        assert!(err("[limits]\nmax_conections_per_ip = 5").contains("max_conections_per_ip"));
        assert!(err("[chat]\nllm_max_concurrent = 0").contains("chat.llm_max_concurrent"));
        assert!(err("[dashboard]\nsession_idle_secs = 0").contains("dashboard.session_idle_secs"));
        assert!(err("[chat]\nmcp_timeout_secs = 0").contains("chat.mcp_timeout_secs"));
        assert!(err("[chat]\nmcp_allow_http_loopback = 1").contains("mcp_allow_http_loopback"));

        let bad_env = env_of(&[("ANIMAM_DASHBOARD_SECURE_COOKIES", "maybe")]);
        let e = resolve(None, &bad_env, &none).unwrap_err().0;
        assert!(e.contains("ANIMAM_DASHBOARD_SECURE_COOKIES"), "{e}");
        let env = env_of(&[
            ("ANIMAM_DASHBOARD_SECURE_COOKIES", "true"),
            ("ANIMAM_DASHBOARD_SESSION_IDLE_SECS", "60"),
        ]);
        let config = resolve(
            Some(("t.toml", "[dashboard]\nsession_max_secs = 120")),
            &env,
            &none,
        )
        .unwrap();
        assert!(config.dashboard.secure_cookies);
        assert_eq!(config.dashboard.session_idle_secs, 60);
        assert_eq!(config.dashboard.session_max_secs, 120);

        let bad_env = env_of(&[("ANIMAM_MAX_BODY_KIB", "lots")]);
        let e = resolve(None, &bad_env, &none).unwrap_err().0;
        assert!(e.contains("ANIMAM_MAX_BODY_KIB"), "{e}");

        let bad_flag = FlagOverrides {
            listen: Some("8080".into()),
            data_dir: None,
        };
        let e = resolve(None, &no_env, &bad_flag).unwrap_err().0;
        assert!(e.contains("--listen"), "{e}");
    }

    #[test]
    fn shipped_animam_toml_is_valid_and_matches_the_defaults() {
        let text = include_str!("../animam.toml");
        let config = resolve(
            Some(("animam.toml", text)),
            &env_of(&[]),
            &FlagOverrides::default(),
        )
        .unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn trusted_proxies_are_cidrs() {
        let none = FlagOverrides::default();
        let config = resolve(
            Some(("t.toml", "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]")),
            &env_of(&[]),
            &none,
        )
        .unwrap();
        let trusted = &config.trusted_proxies;
        assert!(trusted.trusts("10.1.2.3".parse().unwrap()));
        assert!(!trusted.trusts("11.0.0.1".parse().unwrap()));
        assert!(trusted.trusts("::1".parse().unwrap()));
        assert!(
            trusted.trusts("::ffff:10.0.0.1".parse().unwrap()),
            "v4-mapped"
        );
        let env = env_of(&[("ANIMAM_TRUSTED_PROXIES", "127.0.0.1/32, 192.168.0.0/16")]);
        let config = resolve(None, &env, &none).unwrap();
        assert!(
            config
                .trusted_proxies
                .trusts("192.168.9.9".parse().unwrap())
        );
        assert!(!config.trusted_proxies.trusts("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8"] {
            let e = resolve(
                Some(("t.toml", &format!("trusted_proxies = [\"{bad}\"]"))),
                &env_of(&[]),
                &none,
            )
            .unwrap_err()
            .0;
            assert!(e.contains("trusted_proxies") && e.contains(bad), "{e}");
        }
        let bad_env = env_of(&[("ANIMAM_TRUSTED_PROXIES", "x")]);
        let e = resolve(None, &bad_env, &none).unwrap_err().0;
        assert!(e.contains("ANIMAM_TRUSTED_PROXIES"), "{e}");
    }

    #[test]
    fn debug_hides_the_llm_url() {
        let mut config = Config::default();
        config.chat.llm_base_url = Some("https://user:secret@llm.local".into());
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn store_backend_and_postgres_settings() {
        let none = FlagOverrides::default();
        let file = r#"
            [store]
            backend = "postgres"
            url = "postgres://animam:s3cret@127.0.0.1:5432/animam"
            pool_size = 4
            connect_timeout_secs = 2
            statement_timeout_secs = 9
        "#;
        let config = resolve(Some(("t.toml", file)), &env_of(&[]), &none).unwrap();
        assert_eq!(config.store.backend, StoreBackend::Postgres);
        assert_eq!(config.store.pool_size, 4);
        assert_eq!(config.store.connect_timeout_secs, 2);
        assert_eq!(config.store.statement_timeout_secs, 9);
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("postgres://animam:***@127.0.0.1:5432/animam"),
            "{debug}"
        );

        let env = env_of(&[
            ("ANIMAM_STORE_BACKEND", "redb"),
            ("ANIMAM_STORE_URL", "postgresql://u@h/db"),
            ("ANIMAM_STORE_POOL_SIZE", "32"),
        ]);
        let config = resolve(Some(("t.toml", file)), &env, &none).unwrap();
        assert_eq!(config.store.backend, StoreBackend::Redb);
        assert_eq!(config.store.url.as_deref(), Some("postgresql://u@h/db"));
        assert_eq!(config.store.pool_size, 32);

        let err = |file: &str, env: &[(&str, &str)]| {
            resolve(Some(("t.toml", file)), &env_of(env), &none)
                .unwrap_err()
                .0
        };
        let e = err("[store]\nbackend = \"mysql\"", &[]);
        assert!(e.contains("store.backend") && e.contains("mysql"), "{e}");
        let e = err("[store]\nbackend = \"postgres\"", &[]);
        assert!(e.contains("store.url: must be set"), "{e}");
        let e = err("[store]\nurl = \"mysql://root:pw@x/db\"", &[]);
        assert!(e.contains("store.url") && !e.contains("pw"), "{e}");
        let e = err("", &[("ANIMAM_STORE_URL", "postgres://u:pw@h:notaport/db")]);
        assert!(e.contains("ANIMAM_STORE_URL") && !e.contains("pw"), "{e}");
        let e = err("[store]\npool_size = 0", &[]);
        assert!(e.contains("store.pool_size"), "{e}");
        let e = err("", &[("ANIMAM_STORE_STATEMENT_TIMEOUT_SECS", "0")]);
        assert!(e.contains("ANIMAM_STORE_STATEMENT_TIMEOUT_SECS"), "{e}");
    }

    #[test]
    fn urls_are_redacted() {
        for (url, want) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?password=pw&sslmode=disable",
                "postgres://h/db?password=***&sslmode=disable",
            ),
            ("postgres://u:p@w@h:5432", "postgres://u:***@h:5432"),
            ("postgresql://h", "postgresql://h"),
        ] {
            assert_eq!(redact_url(url), want);
        }
    }
}
