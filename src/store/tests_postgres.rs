//! The store's behaviour suite (tests.rs), the very same file, run on PostgreSQL: each data
//! directory a test opens gets a fresh database of its own (the same one again when the
//! test reopens that directory), from the throwaway test cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[allow(unused_imports)]
use super::*;
use crate::store::pg::test_cluster::{TestDb, database};

const ON_POSTGRES: bool = true;

/// Kept for the whole run, so a reopened directory finds its data again.
static DATABASES: Mutex<Option<HashMap<PathBuf, TestDb>>> = Mutex::new(None);

fn test_options(dir: &Path) -> StoreOptions {
    let mut databases = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let db = databases
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_path_buf())
        .or_insert_with(database);
    let config = crate::config::StoreConfig {
        pool_size: 4,
        ..crate::config::StoreConfig::default()
    };
    StoreOptions {
        postgres: Some(pg::PgSettings::new(db.url(), &config)),
        ..StoreOptions::default()
    }
}

// The point: the very same suite, once more, on the other engine.
#[allow(clippy::duplicate_mod)]
#[path = "tests.rs"]
mod suite;
