//! The storage engine seam: an ordered key-value table API the whole store is written
//! against, and the engines behind it. The store's logic (validation, secondary-index rows
//! kept in the same transaction, effects, group commit) exists once, above this module; an
//! engine only keeps ordered `bytes -> bytes` tables and transactions over them. So every
//! engine gives the store exactly the same behaviour, and one test suite covers them all.
//!
//! - [`TableDef`] names a table, its typed key and value, and whether its rows belong to a
//!   tenant (the key's first component is the tenant's slug) or are global.
//! - Keys are encoded by [`keys`] so that byte order is tuple order on every engine.
//! - [`ReadTxn`] is a consistent snapshot; [`WriteTxn`] sees its own writes and commits all
//!   or nothing.

pub mod keys;
mod postgres;
mod redb_engine;

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

pub use keys::{Key, Value};
pub use postgres::is_conflict;
pub(super) use redb_engine::raw_definition;

use super::{StoreError, StoreResult};

/// Whose rows a table holds: where an engine that distributes rows (PostgreSQL with Citus)
/// places them, and which rows a per-tenant operation may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The key's first component is the slug of the tenant the row belongs to.
    Tenant,
    /// Rows belong to no tenant (schema metadata, records found by a global id).
    Global,
}

/// A table: its name, key and value types and [`Scope`].
pub struct TableDef<K: Key, V: Value> {
    name: &'static str,
    scope: Scope,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: Value> Clone for TableDef<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Key, V: Value> Copy for TableDef<K, V> {}

impl<K: Key, V: Value> TableDef<K, V> {
    /// A table whose key starts with the tenant's slug.
    pub const fn tenant(name: &'static str) -> Self {
        TableDef {
            name,
            scope: Scope::Tenant,
            types: PhantomData,
        }
    }

    /// A table whose rows belong to no tenant.
    pub const fn global(name: &'static str) -> Self {
        TableDef {
            name,
            scope: Scope::Global,
            types: PhantomData,
        }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub const fn scope(&self) -> Scope {
        self.scope
    }
}

/// A run of rows in key order (or reverse order through `rev`).
pub(super) type RawRange<'a> =
    Box<dyn DoubleEndedIterator<Item = StoreResult<(Vec<u8>, Vec<u8>)>> + 'a>;

/// What an engine implements for one open table, on encoded keys.
pub(super) trait RawTable {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RawRange<'_>>;
    fn len(&self) -> StoreResult<u64>;
    /// Returns the value replaced, if any.
    fn insert(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Returns the value removed, if any.
    fn remove(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
}

/// A decoded key; `value()` borrows it in the table's key type.
pub struct KeyGuard<K: Key>(K::Owned);

impl<K: Key> KeyGuard<K> {
    pub fn value(&self) -> K::SelfType<'_> {
        K::view(&self.0)
    }
}

/// A decoded value; `value()` borrows it in the table's value type.
pub struct ValueGuard<V: Value>(V::Owned);

impl<V: Value> ValueGuard<V> {
    pub fn value(&self) -> V::SelfType<'_> {
        V::view(&self.0)
    }
}

/// An open table of a read or a write transaction. Writes through a table of a read
/// transaction fail.
pub struct Table<'t, K: Key, V: Value> {
    def: TableDef<K, V>,
    raw: Box<dyn RawTable + 't>,
}

fn damaged(table: &str, what: &str) -> StoreError {
    StoreError::internal_msg(format!("damaged {what} in table {table}"))
}

fn encoded_bound<'a, K: Key, KR: Borrow<K::SelfType<'a>>>(bound: Bound<&KR>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(keys::encode_key::<K>(*k.borrow())),
        Bound::Excluded(k) => Bound::Excluded(keys::encode_key::<K>(*k.borrow())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl<'t, K: Key, V: Value> Table<'t, K, V> {
    pub(super) fn new(def: TableDef<K, V>, raw: Box<dyn RawTable + 't>) -> Self {
        Table { def, raw }
    }

    /// The table's name, as in its definition.
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    fn decode_value(&self, bytes: Vec<u8>) -> StoreResult<ValueGuard<V>> {
        V::decode(bytes)
            .map(ValueGuard)
            .ok_or_else(|| damaged(self.def.name, "value"))
    }

    pub fn get<'a>(&self, key: impl Borrow<K::SelfType<'a>>) -> StoreResult<Option<ValueGuard<V>>> {
        let key = keys::encode_key::<K>(*key.borrow());
        self.raw
            .get(&key)?
            .map(|bytes| self.decode_value(bytes))
            .transpose()
    }

    pub fn range<'a, KR>(&self, range: impl RangeBounds<KR> + 'a) -> StoreResult<Range<'_, K, V>>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        let start = encoded_bound::<K, KR>(range.start_bound());
        let end = encoded_bound::<K, KR>(range.end_bound());
        let raw = self.raw.range(as_ref(&start), as_ref(&end))?;
        Ok(Range {
            table: self.def.name,
            raw,
            types: PhantomData,
        })
    }

    pub fn iter(&self) -> StoreResult<Range<'_, K, V>> {
        let raw = self.raw.range(Bound::Unbounded, Bound::Unbounded)?;
        Ok(Range {
            table: self.def.name,
            raw,
            types: PhantomData,
        })
    }

    pub fn first(&self) -> StoreResult<Option<(KeyGuard<K>, ValueGuard<V>)>> {
        self.iter()?.next().transpose()
    }

    pub fn len(&self) -> StoreResult<u64> {
        self.raw.len()
    }

    pub fn is_empty(&self) -> StoreResult<bool> {
        Ok(self
            .raw
            .range(Bound::Unbounded, Bound::Unbounded)?
            .next()
            .is_none())
    }

    pub fn insert<'a, 'b>(
        &mut self,
        key: impl Borrow<K::SelfType<'a>>,
        value: impl Borrow<V::SelfType<'b>>,
    ) -> StoreResult<Option<ValueGuard<V>>> {
        let key = keys::encode_key::<K>(*key.borrow());
        let bytes = V::bytes(value.borrow());
        self.raw
            .insert(&key, &bytes)?
            .map(|old| self.decode_value(old))
            .transpose()
    }

    pub fn remove<'a>(
        &mut self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> StoreResult<Option<ValueGuard<V>>> {
        let key = keys::encode_key::<K>(*key.borrow());
        self.raw
            .remove(&key)?
            .map(|old| self.decode_value(old))
            .transpose()
    }

    /// Keeps only the rows for which `keep` is true.
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> bool,
    ) -> StoreResult<()> {
        let mut doomed = Vec::new();
        for row in self.raw.range(Bound::Unbounded, Bound::Unbounded)? {
            let (key, value) = row?;
            let decoded =
                keys::decode_key::<K>(&key).ok_or_else(|| damaged(self.def.name, "key"))?;
            let value = self.decode_value(value)?;
            if !keep(K::view(&decoded), value.value()) {
                doomed.push(key);
            }
        }
        for key in doomed {
            self.raw.remove(&key)?;
        }
        Ok(())
    }
}

fn as_ref(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Rows of a table in key order; `rev()` for the reverse.
pub struct Range<'r, K: Key, V: Value> {
    table: &'static str,
    raw: RawRange<'r>,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: Value> Range<'_, K, V> {
    fn decode(
        &self,
        row: StoreResult<(Vec<u8>, Vec<u8>)>,
    ) -> StoreResult<(KeyGuard<K>, ValueGuard<V>)> {
        let (key, value) = row?;
        let key = keys::decode_key::<K>(&key).ok_or_else(|| damaged(self.table, "key"))?;
        let value = V::decode(value).ok_or_else(|| damaged(self.table, "value"))?;
        Ok((KeyGuard(key), ValueGuard(value)))
    }
}

impl<K: Key, V: Value> Iterator for Range<'_, K, V> {
    type Item = StoreResult<(KeyGuard<K>, ValueGuard<V>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.raw.next()?;
        Some(self.decode(row))
    }
}

impl<K: Key, V: Value> DoubleEndedIterator for Range<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let row = self.raw.next_back()?;
        Some(self.decode(row))
    }
}

/// A consistent snapshot of the last commit.
pub struct ReadTxn {
    inner: ReadInner,
}

enum ReadInner {
    Redb(redb::ReadTransaction),
    Postgres(postgres::PgRead),
}

impl ReadTxn {
    pub(super) fn redb(txn: redb::ReadTransaction) -> ReadTxn {
        ReadTxn {
            inner: ReadInner::Redb(txn),
        }
    }

    /// The table; one never written yet reads as empty.
    pub fn open_table<K: Key, V: Value>(
        &self,
        def: TableDef<K, V>,
    ) -> StoreResult<Table<'_, K, V>> {
        match &self.inner {
            ReadInner::Redb(txn) => Ok(Table::new(def, redb_engine::open_read(txn, def.name)?)),
            ReadInner::Postgres(txn) => Ok(Table::new(def, txn.table(def.name, def.scope))),
        }
    }
}

/// A write transaction: sees its own writes; `commit` makes them durable, all or nothing,
/// and dropping it without committing abandons them.
pub struct WriteTxn {
    inner: WriteInner,
}

// One per batch of writes, moved once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum WriteInner {
    Redb(redb::WriteTransaction),
    Postgres(postgres::PgWrite),
}

impl WriteTxn {
    pub(super) fn redb(txn: redb::WriteTransaction) -> WriteTxn {
        WriteTxn {
            inner: WriteInner::Redb(txn),
        }
    }

    /// The table, created if it does not exist yet.
    pub fn open_table<K: Key, V: Value>(
        &self,
        def: TableDef<K, V>,
    ) -> StoreResult<Table<'_, K, V>> {
        match &self.inner {
            WriteInner::Redb(txn) => Ok(Table::new(def, redb_engine::open_write(txn, def.name)?)),
            WriteInner::Postgres(txn) => Ok(Table::new(def, txn.table(def.name, def.scope))),
        }
    }

    /// Creates the table named `name` if it does not exist (an engine whose tables are made
    /// by its own migrations has nothing to do).
    pub fn create_table(&self, name: &str) -> StoreResult<()> {
        match &self.inner {
            WriteInner::Redb(txn) => redb_engine::open_write(txn, name).map(drop),
            // The schema's migrations (`pg::migrate`) create every table.
            WriteInner::Postgres(_) => Ok(()),
        }
    }

    pub fn commit(self) -> StoreResult<()> {
        match self.inner {
            WriteInner::Redb(txn) => Ok(txn.commit()?),
            WriteInner::Postgres(txn) => txn.commit(),
        }
    }
}

/// The engine a store runs on; cheap to clone.
#[derive(Clone)]
pub enum Engine {
    /// One file, this process only.
    Redb(std::sync::Arc<redb::Database>),
    /// A PostgreSQL database shared by every replica.
    Postgres(crate::store::pg::PgPool),
}

impl Engine {
    pub fn begin_read(&self) -> StoreResult<ReadTxn> {
        match self {
            Engine::Redb(db) => Ok(ReadTxn::redb(redb::ReadableDatabase::begin_read(&**db)?)),
            Engine::Postgres(pool) => Ok(ReadTxn {
                inner: ReadInner::Postgres(postgres::PgRead::begin(pool)?),
            }),
        }
    }

    pub fn begin_write(&self) -> StoreResult<WriteTxn> {
        match self {
            Engine::Redb(db) => Ok(WriteTxn::redb(db.begin_write()?)),
            Engine::Postgres(pool) => Ok(WriteTxn {
                inner: WriteInner::Postgres(postgres::PgWrite::begin(pool)?),
            }),
        }
    }
}
