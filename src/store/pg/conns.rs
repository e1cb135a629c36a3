//! Connections of the step writer and the claim, kept outside the pool.
//!
//! sqlx tests a pooled connection with a round trip when it is taken (`test_before_acquire`)
//! and again when it is given back, whatever the pool's options: with `BEGIN` and `COMMIT`
//! that made five round trips for a batch of step commits whose work is one statement. These
//! connections are opened from the pool's own options (URL, `statement_timeout`), reused
//! as they are, and dropped after an error that says the server is gone; the next use opens
//! a fresh one.

use std::sync::Mutex;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, PgConnection};

use super::writer::is_connection_error;

pub(super) struct Conns {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
}

impl Conns {
    pub(super) fn new(pool: &PgPool) -> Conns {
        Conns {
            options: (*pool.connect_options()).clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(super) async fn take(&self) -> Result<PgConnection, sqlx::Error> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.options.connect().await,
        }
    }

    /// Gives `conn` back after a use that ended with `outcome`; a connection the server
    /// dropped is closed instead.
    pub(super) fn give<T>(&self, conn: PgConnection, outcome: &Result<T, sqlx::Error>) {
        if matches!(outcome, Err(e) if is_connection_error(e)) {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}
