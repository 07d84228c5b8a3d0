//! Corpus (knowledge base) entries.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

pub const DEFAULT_PRIORITY: u8 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CorpusEntry {
    pub id: String,
    pub title: String,
    pub content: String,
    /// `None`: the entry applies to every segment.
    pub segment: Option<String>,
    /// 1..=10; higher wins when entries conflict.
    pub priority: u8,
    pub tags: Vec<String>,
    /// Unique per store: orders "newest first".
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every update: a patch computed from one revision is refused on another, so
    /// concurrent updates never silently overwrite each other.
    #[serde(default)]
    pub revision: u64,
    /// A short summary shown with the entry (hosted-API field); not searched.
    #[serde(default)]
    pub summary: Option<String>,
    /// Inactive entries are kept and listed but never searched nor used by the chat.
    #[serde(default = "active")]
    pub is_active: bool,
}

fn active() -> bool {
    true
}

/// A validated new entry; the store gives it an id and its instants.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCorpus {
    pub title: String,
    pub content: String,
    pub segment: Option<String>,
    pub priority: u8,
    pub tags: Vec<String>,
    pub summary: Option<String>,
    pub is_active: bool,
}

/// A validated partial update; `None` leaves a field unchanged (`segment: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorpusPatch {
    pub title: Option<String>,
    pub content: Option<String>,
    pub segment: Option<Option<String>>,
    pub priority: Option<u8>,
    pub tags: Option<Vec<String>>,
    pub summary: Option<Option<String>>,
    pub is_active: Option<bool>,
}

impl CorpusPatch {
    pub fn apply(&self, entry: &mut CorpusEntry) {
        if let Some(title) = &self.title {
            entry.title.clone_from(title);
        }
        if let Some(content) = &self.content {
            entry.content.clone_from(content);
        }
        if let Some(segment) = &self.segment {
            entry.segment.clone_from(segment);
        }
        if let Some(priority) = self.priority {
            entry.priority = priority;
        }
        if let Some(tags) = &self.tags {
            entry.tags.clone_from(tags);
        }
        if let Some(summary) = &self.summary {
            entry.summary.clone_from(summary);
        }
        if let Some(is_active) = self.is_active {
            entry.is_active = is_active;
        }
    }

    /// True when the patch changes what the search index holds about the entry's text.
    pub fn changes_text(&self) -> bool {
        self.title.is_some() || self.content.is_some() || self.tags.is_some()
    }
}

/// One page of entries plus the number of entries matching in all.
#[derive(Debug)]
pub struct CorpusPage {
    pub entries: Vec<CorpusEntry>,
    pub total: usize,
}
