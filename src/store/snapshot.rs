//! The search index left on disk by a clean close, so the next open loads it (a tenth of a
//! second for 100k entries) instead of rebuilding it from every entry's stored terms.
//!
//! Trust rests on a marker: `close` writes `index.snapshot` (a random id, then the index),
//! makes it durable, and only then records the id in the META table. `open` takes the marker
//! away in its first write transaction, before anything can change the corpus, and loads the
//! file only if its id matches. So a crash, a CLI command writing to the database, or an
//! upgrade after that open all leave no marker, and the next open rebuilds from the rows.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use redb::Database;

use super::engine::WriteTxn;

use super::StoreResult;
use super::tables::META;
use crate::search;

const FILE: &str = "index.snapshot";
const MARKER: &str = "index_snapshot";
const ID_BYTES: usize = 16;

/// Removes and returns the marker (see the module comment); call in the open's first write.
pub(super) fn take_marker(txn: &WriteTxn) -> StoreResult<Option<Vec<u8>>> {
    let mut meta = txn.open_table(META)?;
    Ok(meta.remove(MARKER)?.map(|v| v.value().to_vec()))
}

/// The index of the snapshot the marker names, if it is there and intact. The file is
/// removed either way: once the store is open it can only go stale.
pub(super) fn load(data_dir: &Path, marker: Option<&[u8]>) -> Option<search::Index> {
    let path = data_dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!("search index: cannot read {}: {e}", path.display());
            return None;
        }
    };
    if let Err(e) = fs::remove_file(&path) {
        log::warn!("search index: cannot remove {}: {e}", path.display());
    }
    let marker = marker?;
    let (id, index) = bytes.split_at_checked(ID_BYTES)?;
    if id != marker {
        log::info!("search index: ignoring a snapshot from an earlier run");
        return None;
    }
    let started = std::time::Instant::now();
    let index = search::Index::from_snapshot(index);
    match index {
        Some(_) => log::info!(
            "search index: loaded from the snapshot in {} ms",
            started.elapsed().as_millis()
        ),
        None => {
            log::warn!("search index: the snapshot is damaged; rebuilding from the stored terms")
        }
    }
    index
}

/// Writes the snapshot and then the marker. Call only once nothing else can write.
pub(super) fn leave(db: &Database, index: &search::Index, data_dir: &Path) -> StoreResult<()> {
    let started = std::time::Instant::now();
    let id: [u8; ID_BYTES] = rand::random();
    let body = index.snapshot();
    let path = data_dir.join(FILE);
    let partial = data_dir.join(format!("{FILE}.partial"));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .mode(0o600)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)?;
        file.write_all(&id)?;
        file.write_all(&body)?;
        file.sync_all()?;
        fs::rename(&partial, &path)?;
        fs::File::open(data_dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(super::StoreError::Internal(std::sync::Arc::new(e)));
    }
    let txn = WriteTxn::redb(db.begin_write()?);
    txn.open_table(META)?.insert(MARKER, id.as_slice())?;
    txn.commit()?;
    log::info!(
        "search index: snapshot of {} MiB written in {} ms",
        body.len() >> 20,
        started.elapsed().as_millis()
    );
    Ok(())
}
