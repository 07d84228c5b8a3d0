//! The one integration-test binary (one link step): each module starts the real `animam`
//! binary on 127.0.0.1:0 with a fresh data directory and talks HTTP to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod abuse;
mod agent;
mod auth_matrix;
mod browser;
mod chat;
mod cli;
mod contract;
mod corpus;
mod dashboard;
mod durability;
mod hostile;
mod import_export;
mod lifecycle;
mod mcp;
mod mcp_tools;
mod openai_compat;
mod postgres;
mod replica_limits;
mod replicas;
mod segments;
mod stats;
mod submissions;
mod tenants;
mod tokens;
mod tools;
mod visitors;

mod connections;
mod conversation_limits;
mod damage;
mod disk_full;
