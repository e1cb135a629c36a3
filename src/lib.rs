//! Roster: a durable engine for identity-lifecycle playbooks (joiners, movers and leavers).
//!
//! Module map: `app` wires everything into `roster serve` and `api` is its HTTP API;
//! `playbook` (YAML → checked model) and `script` (the sandboxed Rhai engine) load
//! what users write; `engine` turns events into runs and executes them durably over `store`
//! (SQLite via sqlx); `actions` are the operations steps use; `observation` diffs sightings of a
//! `person` into events; `imports` turns CSV files into observations; `scim` is the inbound SCIM
//! 2.0 endpoint (pushes from Entra and Google become observations); `cli` is the `roster`
//! command; `sandbox` serves local emulators of the identity APIs (Graph, Google Directory,
//! their token endpoints, an HR API) for tests and playbook authors.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]

pub mod actions;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod console;
pub mod cron;
pub mod demo;
pub mod engine;
pub mod imports;
pub mod logging;
pub mod observation;
pub mod person;
pub mod plan;
pub mod playbook;
pub mod sandbox;
pub mod scim;
pub mod script;
pub mod secret;
pub mod store;
pub mod triggers;
