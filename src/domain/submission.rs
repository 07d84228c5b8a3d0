//! Submissions of a SUBMIT_FORM tool's form (by a visitor through the widget, or by the model
//! calling the tool), with the state of their webhook delivery.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tenant::named_enum;
use crate::clock::Timestamp;

/// The longest value of a `textarea` field; other fields take [`MAX_LINE_CHARS`].
pub const MAX_TEXTAREA_CHARS: usize = 5000;
pub const MAX_LINE_CHARS: usize = 500;
/// RFC 5321's limit on a forward path.
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_TEL_CHARS: usize = 40;

named_enum!(
    /// Where a submission's webhook delivery stands. `none`: the tool has no webhook.
    DeliveryStatus {
        None => "none",
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
);

/// The webhook delivery of one submission, updated by the delivery worker after each attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDelivery {
    pub status: DeliveryStatus,
    /// Sent as `Animam-Delivery`; the same on every retry, so a receiver can drop duplicates.
    pub delivery_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
}

impl WebhookDelivery {
    pub fn none() -> WebhookDelivery {
        WebhookDelivery {
            status: DeliveryStatus::None,
            delivery_id: None,
            attempts: 0,
            last_error: None,
            last_attempt_at: None,
            delivered_at: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    pub id: String,
    pub tool_id: String,
    /// The tool's name when the form was submitted (the tool may be renamed or deleted later).
    pub tool_name: String,
    pub conversation_id: Option<String>,
    pub session_id: Option<String>,
    pub visitor_id: Option<String>,
    /// Validated against the form: only its fields, trimmed, empty optional ones left out.
    pub values: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub webhook: WebhookDelivery,
}

/// A submission to record. The store checks the tool (an active SUBMIT_FORM of the tenant) and
/// validates `values` against its form in the same transaction that stores it. Without a
/// `conversation_id`, the conversation of `session_id` (if there is one) is linked; the
/// visitor is taken from the conversation when `visitor_id` is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSubmission {
    pub tool_id: String,
    pub conversation_id: Option<String>,
    pub session_id: Option<String>,
    pub visitor_id: Option<String>,
    pub values: BTreeMap<String, String>,
}

/// A refused value, naming the field as the API shows it (`values.email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub rule: String,
}

impl FieldError {
    fn new(field: &str, rule: impl Into<String>) -> FieldError {
        FieldError {
            field: format!("values.{field}"),
            rule: rule.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// One field of a form, as a SUBMIT_FORM tool's `config.fields` declares it (checked when the
/// tool is written, see `api::tools`).
#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    pub name: String,
    pub label: String,
    /// `text`, `email`, `textarea`, `tel` or `select`.
    pub kind: String,
    pub required: bool,
    pub options: Vec<String>,
}

/// The form of a SUBMIT_FORM tool's configuration, in its order. Entries that do not parse are
/// skipped: the configuration was validated when it was written.
pub fn form_fields(config: &Map<String, Value>) -> Vec<FormField> {
    let Some(fields) = config.get("fields").and_then(Value::as_array) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|f| {
            let text = |key: &str| f.get(key).and_then(Value::as_str).map(str::to_string);
            Some(FormField {
                name: text("name")?,
                label: text("label").unwrap_or_default(),
                kind: text("type").unwrap_or_else(|| "text".into()),
                required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
                options: f
                    .get("options")
                    .and_then(Value::as_array)
                    .map(|o| {
                        o.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The webhook URL of a SUBMIT_FORM tool's configuration, if it has one.
pub fn webhook_url(config: &Map<String, Value>) -> Option<&str> {
    config
        .get("webhookUrl")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
}

/// Values as a client sends them (`{"email": "a@b.c"}`): strings only; `null` counts as absent.
pub fn values_from_json(
    values: &Map<String, Value>,
) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for (name, value) in values {
        match value {
            Value::Null => {}
            Value::String(s) => {
                out.insert(name.clone(), s.clone());
            }
            _ => return Err(FieldError::new(name, "must be a string")),
        }
    }
    Ok(out)
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let allowed = |c: char| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"@".contains(c);
    !local.is_empty()
        && local.chars().all(allowed)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

fn is_tel(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// Checks submitted values against a form: every key a field of the form, every required
/// field present (non-blank), each value of its field's type and length. Returns the values
/// trimmed, blank optional ones left out.
pub fn validate_values(
    fields: &[FormField],
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, FieldError> {
    if let Some(unknown) = values
        .keys()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(FieldError::new(unknown, "unknown field: not in this form"));
    }
    let mut out = BTreeMap::new();
    for field in fields {
        let raw = values.get(&field.name).map(String::as_str).unwrap_or("");
        let value = raw.trim();
        if value.is_empty() {
            if field.required {
                return Err(FieldError::new(&field.name, "is required"));
            }
            continue;
        }
        let multiline = field.kind == "textarea";
        if let Some(c) = value
            .chars()
            .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        {
            return Err(FieldError::new(
                &field.name,
                format!("must not contain control character U+{:04X}", c as u32),
            ));
        }
        let max = match field.kind.as_str() {
            "textarea" => MAX_TEXTAREA_CHARS,
            "email" => MAX_EMAIL_CHARS,
            "tel" => MAX_TEL_CHARS,
            _ => MAX_LINE_CHARS,
        };
        if value.chars().count() > max {
            return Err(FieldError::new(
                &field.name,
                format!("must be at most {max} characters"),
            ));
        }
        match field.kind.as_str() {
            "email" if !is_email(value) => {
                return Err(FieldError::new(
                    &field.name,
                    "must be an email address like name@example.com",
                ));
            }
            "tel" if !is_tel(value) => {
                return Err(FieldError::new(
                    &field.name,
                    "must be a phone number: 5 to 20 digits, with spaces, + - ( ) . allowed",
                ));
            }
            "select" if !field.options.is_empty() && !field.options.iter().any(|o| o == value) => {
                return Err(FieldError::new(
                    &field.name,
                    format!("must be one of {}", field.options.join(", ")),
                ));
            }
            _ => {}
        }
        out.insert(field.name.clone(), value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn form() -> Vec<FormField> {
        let config = json!({"fields": [
            {"name": "name", "label": "Name", "type": "text", "required": true},
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "phone", "label": "Phone", "type": "tel"},
            {"name": "topic", "label": "Topic", "type": "select", "options": ["sales", "support"]},
            {"name": "message", "label": "Message", "type": "textarea"},
        ]});
        form_fields(config.as_object().unwrap())
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        validate_values(&form(), &values(pairs)).unwrap_err().field
    }

    #[test]
    fn valid_values_come_back_trimmed_without_blank_optional_ones() {
        let ok = validate_values(
            &form(),
            &values(&[
                ("name", " Ada "),
                ("email", "ada@example.com"),
                ("phone", "+33 (0)1 23-45.67"),
                ("topic", "sales"),
                ("message", "line one\nline two"),
            ]),
        )
        .unwrap();
        assert_eq!(ok["name"], "Ada");
        assert_eq!(ok.len(), 5);
        let ok = validate_values(
            &form(),
            &values(&[("name", "Ada"), ("email", "a@b.io"), ("phone", "  ")]),
        )
        .unwrap();
        assert!(!ok.contains_key("phone"));
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = [("name", "Ada"), ("email", "a@b.io")];
        assert_eq!(refused(&[("email", "a@b.io")]), "values.name");
        assert_eq!(
            refused(&[("name", "Ada"), ("email", "nope")]),
            "values.email"
        );
        assert_eq!(
            refused(&[("name", "Ada"), ("email", "a b@c.io")]),
            "values.email"
        );
        assert_eq!(
            refused(&[base[0], base[1], ("phone", "call me")]),
            "values.phone"
        );
        assert_eq!(
            refused(&[base[0], base[1], ("phone", "12")]),
            "values.phone"
        );
        assert_eq!(
            refused(&[base[0], base[1], ("topic", "other")]),
            "values.topic"
        );
        assert_eq!(refused(&[base[0], base[1], ("extra", "x")]), "values.extra");
        let long = "x".repeat(MAX_TEXTAREA_CHARS + 1);
        assert_eq!(
            refused(&[base[0], base[1], ("message", &long)]),
            "values.message"
        );
        assert_eq!(refused(&[("name", "A\u{1b}"), base[1]]), "values.name");
    }

    #[test]
    fn json_values_must_be_strings() {
        let ok = values_from_json(json!({"a": "x", "b": null}).as_object().unwrap()).unwrap();
        assert_eq!(ok.len(), 1);
        let err = values_from_json(json!({"n": 3}).as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "values.n");
    }
}
