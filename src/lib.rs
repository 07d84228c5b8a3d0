//! Animam: a self-hosted, single-binary server for the Animam chatbot API.
//!
//! `main.rs` is a thin shell over this library so tests can drive the same code in-process or
//! through the real binary. See ARCHITECTURE in docs/ for the layout.

// The OpenAPI document (src/api/openapi.rs) is one large `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod ids;
pub mod search;
pub mod secrets;
pub mod store;
pub mod web;

#[cfg(test)]
mod layering;
