//! A tenant: a company's bot settings and counters, keyed by slug.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Declares a closed set of wire names as an enum with `as_str`, `parse` and `ALL`, stored
/// and shown by those names.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The accepted names, for error messages.
            pub fn names() -> Vec<&'static str> {
                $name::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// How the bot speaks.
    Tone {
        Formal => "FORMAL",
        Neutral => "NEUTRAL",
        Friendly => "FRIENDLY",
        Playful => "PLAYFUL",
        Technical => "TECHNICAL",
    }
);

named_enum!(
    /// What the bot may talk about.
    ContentPolicy {
        SfwStrict => "SFW_STRICT",
        Sfw => "SFW",
        Moderate => "MODERATE",
        Unfiltered => "UNFILTERED",
    }
);

named_enum!(
    /// How visitors prove who they are to the widget (hosted-API field; stored and shown).
    VisitorAuthMode {
        Jwt => "jwt",
        Otp => "otp",
        All => "all",
    }
);

/// The voice assistant's settings (hosted-API fields; stored, validated and shown).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VoiceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// BCP-47, e.g. `fr-FR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_call_phrases: Option<Vec<String>>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call_duration: Option<u32>,
}

named_enum!(
    /// Self-hosted tenants have one plan; the field exists for hosted-API clients.
    Plan {
        SelfHosted => "self-hosted",
    }
);

/// The stored form. Never serialised to the wire: the API has its own view type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub is_activated: bool,
    pub bot_name: String,
    pub bot_title: String,
    pub bot_lore: String,
    pub bot_tone: Tone,
    pub use_tutoiement: bool,
    pub allow_emojis: bool,
    pub primary_color: String,
    pub secondary_color: String,
    pub show_ai_badge: bool,
    pub allowed_domains: Vec<String>,
    pub content_policy: ContentPolicy,
    pub conversations_used: u64,
    pub conversations_limit: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// How readily the bot answers from the corpus, 0.0 (only close matches) to 1.0 (looser
    /// matches too); 0.5 is the calibrated default.
    #[serde(default = "default_sensitivity")]
    pub answer_sensitivity: f32,
    /// BLAKE3 (hex) of the tenant's legacy X-API-Key, if one was minted.
    #[serde(default)]
    pub legacy_key_hash: Option<String>,
    /// Settings added for hosted-API parity; records written before them read the defaults.
    #[serde(default, flatten)]
    pub extra: TenantExtra,
    /// The parent tenant (slug, id) of a child tenant: the parent's credentials reach it.
    #[serde(default)]
    pub parent: Option<ParentRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParentRef {
    pub slug: String,
    pub id: String,
}

/// Content rules, appearance and voice settings of the hosted API. Kept apart so records
/// stored before they existed still decode (every field has a default); stored and shown
/// under their wire (camelCase) names, so the API view is this struct as it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct TenantExtra {
    /// The widget asks visitors to confirm their age before the first message.
    pub age_gate_enabled: bool,
    pub age_gate_min_age: u8,
    /// Shown by the widget before the conversation; also given to the LLM.
    pub content_warning: Option<String>,
    pub bot_avatar: Option<String>,
    pub visitor_auth_mode: Option<VisitorAuthMode>,
    pub booking_cta_enabled: bool,
    pub voice_enabled: bool,
    pub voice_provider: Option<String>,
    /// E.164, e.g. `+33123456789`.
    pub voice_phone_number: Option<String>,
    pub voice_assistant_id: Option<String>,
    pub voice_config: Option<VoiceConfig>,
    /// With an LLM configured, the model may answer questions the knowledge base does not
    /// cover (without sources). Off: such questions get the fallback and the model is not
    /// asked, so nothing is answered from the model's own knowledge.
    pub answer_general_questions: bool,
}

impl Default for TenantExtra {
    fn default() -> Self {
        TenantExtra {
            age_gate_enabled: false,
            age_gate_min_age: 18,
            content_warning: None,
            bot_avatar: None,
            visitor_auth_mode: None,
            booking_cta_enabled: false,
            voice_enabled: false,
            voice_provider: None,
            voice_phone_number: None,
            voice_assistant_id: None,
            voice_config: None,
            answer_general_questions: false,
        }
    }
}

impl Tenant {
    pub fn new(id: String, slug: &str, name: &str, now: Timestamp) -> Tenant {
        Tenant {
            id,
            slug: slug.to_string(),
            name: name.to_string(),
            plan: Plan::SelfHosted,
            is_activated: true,
            bot_name: "Assistant".to_string(),
            bot_title: format!("{name} assistant"),
            bot_lore: String::new(),
            bot_tone: Tone::Neutral,
            use_tutoiement: false,
            allow_emojis: false,
            primary_color: "#4f46e5".to_string(),
            secondary_color: "#ffffff".to_string(),
            show_ai_badge: true,
            allowed_domains: Vec::new(),
            content_policy: ContentPolicy::Sfw,
            conversations_used: 0,
            conversations_limit: None,
            created_at: now,
            updated_at: now,
            answer_sensitivity: default_sensitivity(),
            legacy_key_hash: None,
            extra: TenantExtra::default(),
            parent: None,
        }
    }

    /// True when a new conversation may start under the tenant's quota.
    pub fn has_conversation_quota(&self) -> bool {
        self.conversations_limit
            .is_none_or(|limit| self.conversations_used < limit)
    }
}

fn default_sensitivity() -> f32 {
    0.5
}

/// A validated partial update of the settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub is_activated: Option<bool>,
    pub bot_name: Option<String>,
    pub bot_title: Option<String>,
    pub bot_lore: Option<String>,
    pub bot_tone: Option<Tone>,
    pub use_tutoiement: Option<bool>,
    pub allow_emojis: Option<bool>,
    pub primary_color: Option<String>,
    pub secondary_color: Option<String>,
    pub show_ai_badge: Option<bool>,
    pub allowed_domains: Option<Vec<String>>,
    pub content_policy: Option<ContentPolicy>,
    pub conversations_limit: Option<Option<u64>>,
    pub answer_sensitivity: Option<f32>,
    pub age_gate_enabled: Option<bool>,
    pub age_gate_min_age: Option<u8>,
    pub content_warning: Option<Option<String>>,
    pub bot_avatar: Option<Option<String>>,
    pub visitor_auth_mode: Option<Option<VisitorAuthMode>>,
    pub booking_cta_enabled: Option<bool>,
    pub voice_enabled: Option<bool>,
    pub voice_provider: Option<Option<String>>,
    pub voice_phone_number: Option<Option<String>>,
    pub voice_assistant_id: Option<Option<String>>,
    pub voice_config: Option<Option<VoiceConfig>>,
    pub answer_general_questions: Option<bool>,
}

impl TenantPatch {
    pub fn apply(&self, t: &mut Tenant) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        set(&mut t.name, &self.name);
        set(&mut t.is_activated, &self.is_activated);
        set(&mut t.bot_name, &self.bot_name);
        set(&mut t.bot_title, &self.bot_title);
        set(&mut t.bot_lore, &self.bot_lore);
        set(&mut t.bot_tone, &self.bot_tone);
        set(&mut t.use_tutoiement, &self.use_tutoiement);
        set(&mut t.allow_emojis, &self.allow_emojis);
        set(&mut t.primary_color, &self.primary_color);
        set(&mut t.secondary_color, &self.secondary_color);
        set(&mut t.show_ai_badge, &self.show_ai_badge);
        set(&mut t.allowed_domains, &self.allowed_domains);
        set(&mut t.content_policy, &self.content_policy);
        set(&mut t.conversations_limit, &self.conversations_limit);
        set(&mut t.answer_sensitivity, &self.answer_sensitivity);
        let x = &mut t.extra;
        set(&mut x.age_gate_enabled, &self.age_gate_enabled);
        set(&mut x.age_gate_min_age, &self.age_gate_min_age);
        set(&mut x.content_warning, &self.content_warning);
        set(&mut x.bot_avatar, &self.bot_avatar);
        set(&mut x.visitor_auth_mode, &self.visitor_auth_mode);
        set(&mut x.booking_cta_enabled, &self.booking_cta_enabled);
        set(&mut x.voice_enabled, &self.voice_enabled);
        set(&mut x.voice_provider, &self.voice_provider);
        set(&mut x.voice_phone_number, &self.voice_phone_number);
        set(&mut x.voice_assistant_id, &self.voice_assistant_id);
        set(&mut x.voice_config, &self.voice_config);
        set(
            &mut x.answer_general_questions,
            &self.answer_general_questions,
        );
    }
}

/// Slug rule from the contract: 2-63 chars of `a-z 0-9 -`, starting with a letter or digit.
pub fn is_valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        for ok in ["ab", "acme", "acme-2", "9lives", &"a".repeat(63)] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in [
            "a",
            "-acme",
            "Acme",
            "ac me",
            "acmé",
            "ac_me",
            "",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn enums_keep_their_wire_names() {
        assert_eq!(
            serde_json::to_string(&Tone::Playful).unwrap(),
            "\"PLAYFUL\""
        );
        assert_eq!(
            serde_json::to_string(&ContentPolicy::SfwStrict).unwrap(),
            "\"SFW_STRICT\""
        );
        assert_eq!(Plan::parse("self-hosted"), Some(Plan::SelfHosted));
        assert_eq!(Tone::parse("angry"), None);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let mut t = Tenant::new("ten_1".into(), "acme", "Acme", Timestamp::default());
        let before = t.clone();
        TenantPatch::default().apply(&mut t);
        assert_eq!(t, before);
        TenantPatch {
            bot_tone: Some(Tone::Friendly),
            conversations_limit: Some(Some(3)),
            ..Default::default()
        }
        .apply(&mut t);
        assert_eq!(t.bot_tone, Tone::Friendly);
        assert_eq!(t.conversations_limit, Some(3));
        assert_eq!(t.bot_name, before.bot_name);
    }
}
