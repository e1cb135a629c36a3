//! The integration tests: one binary (one link), a module per area. They drive the real
//! `roster` binary (workers as child processes, killed with SIGKILL where a test needs a crash)
//! and the library, against a private SQLite file and a loopback HTTP server per test.

mod smtp;
mod support;
mod support_browser;
mod support_checks;
mod support_entra_google;
mod support_lifecycle;
mod support_pg;
mod support_sandbox;
mod support_scim;
mod support_serve;
mod support_triggers;

mod actions;
mod api_runs;
mod approvals;
mod concurrency;
mod console;
mod console_browser;
mod durability;
mod email;
mod entra;
mod entra_contract;
mod google;
mod google_writes;
mod hr;
mod imports;
mod imports_http;
mod lifecycle;
mod lifecycle_entra;
mod lifecycle_hr;
mod observations;
mod plan;
mod playbooks;
mod postgres;
mod quickstart;
mod retries;
mod scim_e2e;
mod scim_inbound;
mod scim_outbound;
mod serve;
mod serve_intake;
mod timers;
mod triggers_dates;
mod triggers_entra;
mod triggers_google;
mod triggers_schedule;
mod triggers_webhook;

mod sandbox_conformance;
mod sandbox_delta;
mod sandbox_faults;
mod sandbox_google;
mod sandbox_graph;
mod sandbox_support;
mod sandbox_tokens;
