//! Dashboard sessions, keyed by the BLAKE3 (hex) of the cookie value: the store never sees
//! the value itself. Reads run inline; every change goes through the one writer.

use super::tables::SESSIONS;
use super::writer::Tx;
use super::{Store, StoreResult, decode, encode};
use crate::clock::Timestamp;
use crate::domain::Session;

/// Ends every session opened with `token_id` (called inside the token's revocation).
pub(super) fn end_for_token(tx: &Tx<'_>, token_id: &str) -> StoreResult<usize> {
    let mut table = tx.txn.open_table(SESSIONS)?;
    let mut doomed = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        let session: Session = decode("sessions", key.value(), value.value())?;
        if session.token_id == token_id {
            doomed.push(key.value().to_string());
        }
    }
    for key in &doomed {
        table.remove(key.as_str())?;
    }
    Ok(doomed.len())
}

impl Store {
    pub async fn create_session(&self, hash: &str, session: Session) -> StoreResult<()> {
        let hash = hash.to_string();
        self.write(move |tx| {
            tx.txn
                .open_table(SESSIONS)?
                .insert(hash.as_str(), encode(&session)?.as_slice())?;
            Ok(())
        })
        .await
    }

    pub async fn get_session(&self, hash: &str) -> StoreResult<Option<Session>> {
        let hash = hash.to_string();
        self.read_owned(move |txn| {
            let hash = hash.as_str();
            let table = txn.open_table(SESSIONS)?;
            let session = match table.get(hash)? {
                Some(v) => Some(decode("sessions", hash, v.value())?),
                None => None,
            };
            Ok(session)
        })
        .await
    }

    /// Moves the session's idle deadline; a session ended meanwhile stays ended.
    pub async fn touch_session(&self, hash: &str, at: Timestamp) -> StoreResult<()> {
        let hash = hash.to_string();
        self.write(move |tx| {
            let mut table = tx.txn.open_table(SESSIONS)?;
            let session: Option<Session> = match table.get(hash.as_str())? {
                Some(v) => Some(decode("sessions", hash.as_str(), v.value())?),
                None => None,
            };
            if let Some(mut session) = session {
                session.last_seen_at = session.last_seen_at.max(at);
                table.insert(hash.as_str(), encode(&session)?.as_slice())?;
            }
            Ok(())
        })
        .await
    }

    /// Sign-out, or a session found over: true when there was one.
    pub async fn delete_session(&self, hash: &str) -> StoreResult<bool> {
        let hash = hash.to_string();
        self.write(move |tx| {
            let mut table = tx.txn.open_table(SESSIONS)?;
            let removed = table.remove(hash.as_str())?.is_some();
            Ok(removed)
        })
        .await
    }

    /// Removes sessions past their absolute expiry or idle for `idle_secs`; returns how many.
    pub async fn delete_over_sessions(&self, now: Timestamp, idle_secs: i64) -> StoreResult<usize> {
        let over: Vec<String> = self
            .read_owned(move |txn| {
                let mut over = Vec::new();
                for row in txn.open_table(SESSIONS)?.iter()? {
                    let (key, value) = row?;
                    let session: Session = decode("sessions", key.value(), value.value())?;
                    if session.is_over(now, idle_secs) {
                        over.push(key.value().to_string());
                    }
                }
                Ok(over)
            })
            .await?;
        if over.is_empty() {
            return Ok(0);
        }
        self.write(move |tx| {
            let mut table = tx.txn.open_table(SESSIONS)?;
            let mut removed = 0;
            for key in &over {
                if table.remove(key.as_str())?.is_some() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}
