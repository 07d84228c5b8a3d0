//! Scopes a credential can hold, and the set type used to check them.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    CorpusRead,
    CorpusWrite,
    ConversationsRead,
    SettingsRead,
    SettingsWrite,
    TokensRead,
    TokensWrite,
    SegmentsRead,
    SegmentsWrite,
    /// Everything, including scopes added in later versions.
    All,
}

impl Scope {
    pub const EVERY: [Scope; 10] = [
        Scope::CorpusRead,
        Scope::CorpusWrite,
        Scope::ConversationsRead,
        Scope::SettingsRead,
        Scope::SettingsWrite,
        Scope::TokensRead,
        Scope::TokensWrite,
        Scope::SegmentsRead,
        Scope::SegmentsWrite,
        Scope::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CorpusRead => "corpus:read",
            Scope::CorpusWrite => "corpus:write",
            Scope::ConversationsRead => "conversations:read",
            Scope::SettingsRead => "settings:read",
            Scope::SettingsWrite => "settings:write",
            Scope::TokensRead => "tokens:read",
            Scope::TokensWrite => "tokens:write",
            Scope::SegmentsRead => "segments:read",
            Scope::SegmentsWrite => "segments:write",
            Scope::All => "*",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::EVERY.into_iter().find(|s| s.as_str() == name)
    }

    /// The valid names, for error messages that must list them.
    pub fn valid_names() -> String {
        Scope::EVERY.map(Scope::as_str).join(", ")
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small bit set of scopes; `*` in the set grants every scope.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn all() -> Self {
        ScopeSet(Scope::All.bit())
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn grants(self, scope: Scope) -> bool {
        self.0 & (Scope::All.bit() | scope.bit()) != 0
    }

    /// The scopes literally in the set, in canonical order.
    pub fn names(self) -> Vec<String> {
        Scope::EVERY
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(|s| s.as_str().to_string())
            .collect()
    }

    /// Parses a list of names; the first unknown name is returned as the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = ScopeSet::default();
        for name in names {
            set.insert(Scope::parse(name).ok_or_else(|| name.to_string())?);
        }
        Ok(set)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::EVERY
            .into_iter()
            .filter(move |s| self.0 & s.bit() != 0)
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::EVERY {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("corpus:admin"), None);
        assert_eq!(Scope::parse(""), None);
    }

    #[test]
    fn star_grants_everything_and_others_only_themselves() {
        let all = ScopeSet::all();
        for scope in Scope::EVERY {
            assert!(all.grants(scope));
        }
        let set = ScopeSet::parse(["corpus:read", "tokens:write"]).unwrap();
        assert!(set.grants(Scope::CorpusRead));
        assert!(set.grants(Scope::TokensWrite));
        assert!(!set.grants(Scope::CorpusWrite));
        assert!(!set.grants(Scope::All));
        assert_eq!(set.names(), vec!["corpus:read", "tokens:write"]);
    }

    #[test]
    fn parse_reports_the_unknown_name() {
        assert_eq!(
            ScopeSet::parse(["corpus:read", "bogus"]),
            Err("bogus".to_string())
        );
    }
}
