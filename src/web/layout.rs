//! The page frame (head, navigation, main) and small shared pieces, in maud: templates are
//! Rust, checked at compile time, and every interpolated value is HTML-escaped.

use maud::{DOCTYPE, Markup, html};

use super::form::FieldErrors;
use crate::domain::Scope;

/// The signed-in part of the frame.
pub struct Nav<'a> {
    pub tenant: &'a str,
    pub can: &'a dyn Fn(Scope) -> bool,
    pub csrf: &'a str,
    /// Which section is open: "home", "tokens", "corpus", "conversations", "segments",
    /// "settings", "preview".
    pub active: &'a str,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="same-origin";
            title { (title) " · Animam" }
            link rel="stylesheet" href="/dashboard/-/static/dashboard.css";
            script src="/dashboard/-/static/dashboard.js" defer {}
        }
    }
}

/// A full dashboard page.
pub fn page(title: &str, nav: &Nav<'_>, body: Markup) -> Markup {
    let t = nav.tenant;
    let sections: [(&str, String, &str, Option<Scope>); 7] = [
        ("home", format!("/dashboard/{t}"), "Overview", None),
        (
            "tokens",
            format!("/dashboard/{t}/tokens"),
            "API Tokens",
            Some(Scope::TokensRead),
        ),
        (
            "corpus",
            format!("/dashboard/{t}/corpus"),
            "Knowledge Base",
            Some(Scope::CorpusRead),
        ),
        (
            "conversations",
            format!("/dashboard/{t}/conversations"),
            "Conversations",
            Some(Scope::ConversationsRead),
        ),
        (
            "segments",
            format!("/dashboard/{t}/segments"),
            "Segments",
            Some(Scope::SegmentsRead),
        ),
        (
            "settings",
            format!("/dashboard/{t}/settings"),
            "Settings",
            Some(Scope::SettingsRead),
        ),
        (
            "preview",
            format!("/dashboard/{t}/preview"),
            "Widget preview",
            None,
        ),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href={ "/dashboard/" (t) } { "Animam" }
                    span.tenant { (t) }
                    nav aria-label="Sections" {
                        ul {
                            @for (key, href, label, scope) in &sections {
                                @if scope.is_none_or(|s| (nav.can)(s)) {
                                    li {
                                        @if *key == nav.active {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/dashboard/-/sign-out" {
                        (csrf_field(nav.csrf))
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page outside a session (sign-in) or an error page.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main.narrow {
                    p.brand { "Animam" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn message_page(title: &str, text: &str) -> Markup {
    bare_page(
        title,
        html! {
            p.notice role="alert" { (text) }
            p { a href="/dashboard" { "Back to the dashboard" } }
        },
    )
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// The message beside a field, linked to it by `aria-describedby` (`{field}-error`).
pub fn field_error(errors: &FieldErrors, field: &str) -> Markup {
    html! {
        @if let Some(message) = errors.of(field) {
            p.field-error id={ (field) "-error" } { (message) }
        }
    }
}

pub fn form_error(errors: &FieldErrors) -> Markup {
    html! {
        @if let Some(message) = errors.general() {
            p.notice.error role="alert" { (message) }
        } @else if !errors.is_empty() {
            p.notice.error role="alert" { "Please correct the fields marked below." }
        }
    }
}
