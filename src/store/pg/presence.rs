//! How many replicas serve one database. Each replica follows the change feed on a
//! connection of its own, named [`FEED_APPLICATION_NAME`], so counting those connections in
//! `pg_stat_activity` counts the live replicas: no table, no heartbeat to write, and a
//! replica that dies (SIGKILL included) stops being counted as soon as its connection drops.
//! `application_name` and `datname` are visible to every role, superuser or not.

use tokio_postgres::Client;

use super::PgError;

/// The `application_name` of a replica's change-feed connection.
pub const FEED_APPLICATION_NAME: &str = "animam-feed";

/// The replicas following this database's change feed now (at least 1: the asker is one,
/// even while its own feed connection is being re-established).
pub async fn live_replicas(client: &Client) -> Result<u32, PgError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
            &[&FEED_APPLICATION_NAME],
        )
        .await?;
    let count: i64 = row.get(0);
    Ok(u32::try_from(count).unwrap_or(u32::MAX).max(1))
}
