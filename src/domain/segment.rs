//! Segments: the audiences/personas of a tenant's bot. Every tenant has exactly one default.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

pub const DEFAULT_SEGMENT_SLUG: &str = "general";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Starter {
    pub text: String,
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub system_prompt: String,
    pub welcome_message: String,
    pub conversation_starters: Vec<Starter>,
    pub is_default: bool,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Segment {
    pub fn matches(&self, id_or_slug: &str) -> bool {
        self.id == id_or_slug || self.slug == id_or_slug
    }
}

/// A validated new segment (the slug already derived from the name when it was omitted).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSegment {
    pub slug: String,
    pub name: String,
    pub system_prompt: String,
    pub welcome_message: String,
    pub conversation_starters: Vec<Starter>,
    pub is_default: bool,
    pub is_active: bool,
}

impl NewSegment {
    pub fn named(slug: &str, name: &str) -> NewSegment {
        NewSegment {
            slug: slug.to_string(),
            name: name.to_string(),
            system_prompt: String::new(),
            welcome_message: String::new(),
            conversation_starters: Vec::new(),
            is_default: false,
            is_active: true,
        }
    }
}

/// A validated partial update; `None` leaves a field unchanged. The slug never changes:
/// corpus entries refer to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentPatch {
    pub name: Option<String>,
    pub system_prompt: Option<String>,
    pub welcome_message: Option<String>,
    pub conversation_starters: Option<Vec<Starter>>,
    pub is_default: Option<bool>,
    pub is_active: Option<bool>,
}

impl SegmentPatch {
    pub fn apply(&self, s: &mut Segment) {
        if let Some(v) = &self.name {
            s.name.clone_from(v);
        }
        if let Some(v) = &self.system_prompt {
            s.system_prompt.clone_from(v);
        }
        if let Some(v) = &self.welcome_message {
            s.welcome_message.clone_from(v);
        }
        if let Some(v) = &self.conversation_starters {
            s.conversation_starters.clone_from(v);
        }
        if let Some(v) = self.is_default {
            s.is_default = v;
        }
        if let Some(v) = self.is_active {
            s.is_active = v;
        }
    }
}

/// Segment slugs: 1-63 characters of `a-z 0-9 -`, not starting with `-`.
pub fn is_segment_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

/// A slug made from a display name: accents folded, lowercase, other characters as `-`.
pub fn slug_from_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut slug = String::new();
    for c in name
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
    {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.truncate(63);
    slug.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Pricing"), "pricing");
        assert_eq!(
            slug_from_name("  Service après-vente!! "),
            "service-apres-vente"
        );
        assert_eq!(slug_from_name("🎉"), "");
        assert!(is_segment_slug(&slug_from_name(&"Long name ".repeat(20))));
    }

    #[test]
    fn slug_rule() {
        assert!(is_segment_slug("faq"));
        assert!(is_segment_slug("x"));
        assert!(!is_segment_slug("-x"));
        assert!(!is_segment_slug("Pricing"));
        assert!(!is_segment_slug(""));
    }
}
