//! The embedded engine: every table is a redb table of encoded key bytes -> value bytes, in
//! one file, under redb's own transactions (one writer, MVCC readers, durable commits).

use std::ops::Bound;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{RawRange, RawTable};
use crate::store::StoreResult;

/// The redb definition of a table of the store.
pub(crate) fn raw_definition(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

struct Read(redb::ReadOnlyTable<&'static [u8], &'static [u8]>);
struct Write<'t>(redb::Table<'t, &'static [u8], &'static [u8]>);
/// A table a read transaction does not have: nothing was ever written to it.
struct Missing;

pub(super) fn open_read(
    txn: &redb::ReadTransaction,
    name: &str,
) -> StoreResult<Box<dyn RawTable + 'static>> {
    match txn.open_table(raw_definition(name)) {
        Ok(table) => Ok(Box::new(Read(table))),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(Box::new(Missing)),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    name: &str,
) -> StoreResult<Box<dyn RawTable + 't>> {
    Ok(Box::new(Write(txn.open_table(raw_definition(name))?)))
}

fn owned_range<'a>(range: redb::Range<'a, &'static [u8], &'static [u8]>) -> RawRange<'a> {
    Box::new(range.map(|row| {
        let (k, v) = row?;
        Ok((k.value().to_vec(), v.value().to_vec()))
    }))
}

fn read_only() -> crate::store::StoreError {
    crate::store::StoreError::internal_msg("a write through a read transaction")
}

impl RawTable for Read {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|v| v.value().to_vec()))
    }
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RawRange<'_>> {
        Ok(owned_range(self.0.range::<&[u8]>((start, end))?))
    }
    fn len(&self) -> StoreResult<u64> {
        Ok(self.0.len()?)
    }
    fn insert(&mut self, _: &[u8], _: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Err(read_only())
    }
    fn remove(&mut self, _: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Err(read_only())
    }
}

impl RawTable for Write<'_> {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|v| v.value().to_vec()))
    }
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RawRange<'_>> {
        Ok(owned_range(self.0.range::<&[u8]>((start, end))?))
    }
    fn len(&self) -> StoreResult<u64> {
        Ok(self.0.len()?)
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.0.insert(key, value)?.map(|v| v.value().to_vec()))
    }
    fn remove(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.0.remove(key)?.map(|v| v.value().to_vec()))
    }
}

impl RawTable for Missing {
    fn get(&self, _: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(None)
    }
    fn range(&self, _: Bound<&[u8]>, _: Bound<&[u8]>) -> StoreResult<RawRange<'_>> {
        Ok(Box::new(std::iter::empty()))
    }
    fn len(&self) -> StoreResult<u64> {
        Ok(0)
    }
    fn insert(&mut self, _: &[u8], _: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Err(read_only())
    }
    fn remove(&mut self, _: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Err(read_only())
    }
}
