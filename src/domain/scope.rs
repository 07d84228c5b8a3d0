//! Scopes a credential can hold, declared once: the enum, its names, `Scope::EVERY` and the
//! type-level markers handlers name in `Authed<need::X>` all come from the one list below.

use std::fmt;

/// Type-level scope requirement, implemented by the markers in [`need`].
pub trait RequiredScope {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($variant:ident => $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope {
            $($variant,)*
            /// Everything, including scopes added in later versions.
            All,
        }

        impl Scope {
            const COUNT: usize = [$($name),*].len() + 1;
            pub const EVERY: [Scope; Scope::COUNT] = [$(Scope::$variant,)* Scope::All];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$variant => $name,)*
                    Scope::All => "*",
                }
            }
        }

        /// Marker types naming the scope a handler needs: `Authed<need::CorpusWrite>`.
        pub mod need {
            use super::{RequiredScope, Scope};
            $(
                pub struct $variant;
                impl RequiredScope for $variant {
                    const SCOPE: Scope = Scope::$variant;
                }
            )*
            /// Only a `*` credential (or the legacy key): creating child tenants.
            pub struct All;
            impl RequiredScope for All {
                const SCOPE: Scope = Scope::All;
            }
        }
    };
}

scopes! {
    CorpusRead => "corpus:read",
    CorpusWrite => "corpus:write",
    ConversationsRead => "conversations:read",
    SettingsRead => "settings:read",
    SettingsWrite => "settings:write",
    TokensRead => "tokens:read",
    TokensWrite => "tokens:write",
    SegmentsRead => "segments:read",
    SegmentsWrite => "segments:write",
    StatsRead => "stats:read",
    VisitorsRead => "visitors:read",
    VisitorsWrite => "visitors:write",
    ToolsRead => "tools:read",
    ToolsWrite => "tools:write",
}

impl Scope {
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::EVERY.into_iter().find(|s| s.as_str() == name)
    }

    /// The valid names, for error messages that must list them.
    pub fn valid_names() -> String {
        Scope::EVERY.map(Scope::as_str).join(", ")
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small bit set of scopes; `*` in the set grants every scope.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u32);

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

    /// True when every scope of `other` is granted by this set.
    pub fn covers(self, other: ScopeSet) -> bool {
        other.iter().all(|s| self.grants(s))
    }

    /// The scopes literally in the set, in canonical order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_string()).collect()
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

/// Stored as the list of names, so a database stays readable when scopes are added.
impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Scope::as_str))
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        ScopeSet::parse(names.iter().map(String::as_str))
            .map_err(|unknown| serde::de::Error::custom(format!("unknown scope {unknown}")))
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
        assert_eq!(Scope::EVERY.len(), 15);
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
        assert!(all.covers(set));
        assert!(!set.covers(all));
        assert!(set.covers(ScopeSet::parse(["corpus:read"]).unwrap()));
    }

    #[test]
    fn parse_reports_the_unknown_name() {
        assert_eq!(
            ScopeSet::parse(["corpus:read", "bogus"]),
            Err("bogus".to_string())
        );
    }

    #[test]
    fn serialises_as_names() {
        let set = ScopeSet::parse(["tokens:read", "*"]).unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["tokens:read","*"]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<ScopeSet>(r#"["nope"]"#).is_err());
    }
}
