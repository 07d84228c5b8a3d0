//! PostgreSQL infrastructure for the shared-database backend (issue 12): the connection pool
//! and its small runtime, the embedded schema migrations, and the change feed that keeps
//! replicas in step. The storage engine itself builds on these.

pub mod feed;
pub mod migrate;
pub mod pool;

pub use pool::{PgError, PgPool, PgSettings};

/// Whether `[store] backend = "postgres"` may be chosen at run time. False until the
/// PostgreSQL storage engine exists: the server refuses to start with it rather than run on
/// half a backend. (`animam migrate` works regardless.)
pub const BACKEND_AVAILABLE: bool = false;

/// The start-up error for `backend = "postgres"` while `BACKEND_AVAILABLE` is false.
pub const NOT_AVAILABLE: &str = "the postgres backend is not available in this build yet \
     (store.backend / ANIMAM_STORE_BACKEND): use backend = \"redb\"; `animam migrate` can \
     already prepare a PostgreSQL database";

#[cfg(test)]
#[path = "../../../tests/support/postgres.rs"]
pub(crate) mod test_cluster;
