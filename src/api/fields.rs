//! Validators for JSON fields of partial updates (`Map<String, Value>` bodies): each names
//! the field in its 400 so a client can fix its request.

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::error::ApiError;

/// Refuses a key of `object` outside `known`, naming it: `key`, or `within.key` for a nested
/// object (`config.webhook`, `conversationStarters[0].colour`).
pub fn known_keys(
    object: &Map<String, Value>,
    known: &[&str],
    within: Option<&str>,
) -> Result<(), ApiError> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::validation(
            &within.map_or_else(|| unknown.clone(), |w| format!("{w}.{unknown}")),
            "unknown field",
        )),
        None => Ok(()),
    }
}

/// An instant as the API reads one: RFC 3339, or a bare date (that day's start in UTC).
pub fn instant(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_api(text).ok_or_else(|| {
        ApiError::validation(
            field,
            "must be an RFC 3339 timestamp like 2024-01-15T10:30:00Z or a date like 2024-01-15",
        )
    })
}

/// Control characters (NUL, escape sequences...) have no place in stored text; tab and line
/// breaks do.
fn check_controls(field: &str, text: &str) -> Result<(), ApiError> {
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(ApiError::validation(
            field,
            format!("must not contain control character U+{:04X}", c as u32),
        )),
        None => Ok(()),
    }
}

/// A string of `min..=max` characters after trimming; returns it trimmed.
pub fn text(field: &str, value: &Value, min: usize, max: usize) -> Result<String, ApiError> {
    let s = value
        .as_str()
        .ok_or_else(|| ApiError::validation(field, "must be a string"))?;
    check_controls(field, s)?;
    let trimmed = s.trim();
    // At least `min` characters of text, at most `max` as sent (the documented maxLength).
    if trimmed.chars().count() < min || s.chars().count() > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        };
        return Err(ApiError::validation(field, rule));
    }
    Ok(trimmed.to_string())
}

pub fn boolean(field: &str, value: &Value) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::validation(field, "must be true or false"))
}

/// One of a closed set of names, parsed into its type.
pub fn one_of<T>(
    field: &str,
    value: &Value,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &[&str],
) -> Result<T, ApiError> {
    value.as_str().and_then(parse).ok_or_else(|| {
        ApiError::validation(field, format!("must be one of {}", allowed.join(", ")))
    })
}

/// A string with some non-blank text and at most `max` characters, kept as sent.
pub fn non_blank(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    check_controls(field, &value)?;
    Ok(value)
}

/// `null` clears the field; anything else is read by `read`.
pub fn nullable<T>(
    value: &Value,
    read: impl FnOnce(&Value) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    match value {
        Value::Null => Ok(None),
        v => read(v).map(Some),
    }
}

/// E.164: `+`, then 2 to 15 digits, the first not 0.
pub fn phone_number(field: &str, value: &Value) -> Result<String, ApiError> {
    match value.as_str() {
        Some(s)
            if s.len() >= 3
                && s.len() <= 16
                && s.starts_with('+')
                && !s[1..].starts_with('0')
                && s[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(s.to_string())
        }
        _ => Err(ApiError::validation(
            field,
            "must be an E.164 phone number like +33123456789",
        )),
    }
}
