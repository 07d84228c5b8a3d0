//! Secrets the server must read back in clear (a tenant's MCP API key, a webhook signing
//! secret) are sealed with AES-256-GCM before they reach the store. The key never lives in the
//! database file: it comes from `ANIMAM_SECRET_KEY` (64 hex digits) or from `secret.key` in the
//! data directory (created on first start, mode 0600). A stolen or backed-up `animam.redb`
//! alone therefore reveals no secret; the key file must be backed up beside it.
//!
//! Sealed format: `1` (version) ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag. The caller
//! passes a context (for example `mcp-key:<tenant id>`) as associated data, so a sealed value
//! copied into another tenant's row does not open.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::Rng;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// The environment variable that holds the key, for deployments that keep it in a secret
/// manager rather than on the data volume.
pub const KEY_ENV: &str = "ANIMAM_SECRET_KEY";
/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug)]
pub enum SecretsError {
    /// The key is missing, unreadable or malformed.
    Key(String),
    /// The value was not sealed by this key for this context (or was altered).
    Open,
}

impl fmt::Display for SecretsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretsError::Key(why) => write!(f, "secret key: {why}"),
            SecretsError::Open => f.write_str("sealed value does not open with this key"),
        }
    }
}

impl std::error::Error for SecretsError {}

/// Seals and opens secrets with the server's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The key from `ANIMAM_SECRET_KEY` when set, else from `<data_dir>/secret.key`, which is
    /// created (random, 0600) when absent.
    pub fn load(data_dir: &Path) -> Result<SecretBox, SecretsError> {
        if let Ok(hex) = std::env::var(KEY_ENV) {
            let key = parse_hex_key(hex.trim())
                .ok_or_else(|| SecretsError::Key(format!("{KEY_ENV} must be 64 hex digits")))?;
            return Ok(SecretBox::from_key(&key));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_hex_key(text.trim())
                .map(|key| SecretBox::from_key(&key))
                .ok_or_else(|| {
                    SecretsError::Key(format!("{} must hold 64 hex digits", path.display()))
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&path),
            Err(e) => Err(SecretsError::Key(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            // AES-GCM encryption fails only for inputs over 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let (&version, rest) = sealed.split_first().ok_or(SecretsError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SecretsError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Open)
    }

    /// `open` for secrets that were UTF-8 when sealed.
    pub fn open_string(&self, context: &str, sealed: &[u8]) -> Result<String, SecretsError> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| SecretsError::Open)
    }
}

fn parse_hex_key(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

fn create_key_file(path: &PathBuf) -> Result<SecretBox, SecretsError> {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let fail =
        |e: std::io::Error| SecretsError::Key(format!("cannot create {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    // `create_new`: two processes starting at once must not each write a different key.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(fail)?;
            log::info!("secrets: created a new key in {}", path.display());
            Ok(SecretBox::from_key(&key))
        }
        // Lost the race: the other process's key is the one to use.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(fail)?;
            parse_hex_key(text.trim())
                .map(|key| SecretBox::from_key(&key))
                .ok_or_else(|| SecretsError::Key(format!("{} is malformed", path.display())))
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let a = SecretBox::from_key(&[7u8; 32]);
        let b = SecretBox::from_key(&[8u8; 32]);
        let sealed = a.seal("mcp-key:t1", b"sk-live-123");
        assert!(!sealed.windows(11).any(|w| w == b"sk-live-123"));
        assert_eq!(
            a.open_string("mcp-key:t1", &sealed).ok().as_deref(),
            Some("sk-live-123")
        );
        assert!(a.open("mcp-key:t2", &sealed).is_err());
        assert!(b.open("mcp-key:t1", &sealed).is_err());
        let mut altered = sealed.clone();
        if let Some(last) = altered.last_mut() {
            *last ^= 1;
        }
        assert!(a.open("mcp-key:t1", &altered).is_err());
        assert!(a.open("mcp-key:t1", &[]).is_err());
        // Fresh nonce each time.
        assert_ne!(a.seal("c", b"x"), a.seal("c", b"x"));
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = SecretBox::load(dir.path()).expect("create");
        let sealed = first.seal("ctx", b"secret");
        let again = SecretBox::load(dir.path()).expect("reuse");
        assert_eq!(
            again.open("ctx", &sealed).ok().as_deref(),
            Some(&b"secret"[..])
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "not hex").expect("write");
        assert!(matches!(
            SecretBox::load(dir.path()),
            Err(SecretsError::Key(_))
        ));
    }

    #[test]
    fn hex_keys_must_be_exactly_32_bytes() {
        assert!(parse_hex_key(&"ab".repeat(32)).is_some());
        assert!(parse_hex_key(&"ab".repeat(31)).is_none());
        assert!(parse_hex_key(&"zz".repeat(32)).is_none());
        assert!(parse_hex_key(&"é".repeat(32)).is_none());
    }
}
