//! Access tokens the two token endpoints issued, and what each one grants. Tokens are opaque to
//! clients (Graph's are unsigned JWTs carrying `roles`, for inspection only); the sandbox trusts
//! only its own records, so a token survives `reset` but not a restart.

use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct GraphGrant {
    pub client_id: String,
    pub roles: Vec<String>,
    pub expires_at: Instant,
}

#[derive(Debug, Clone)]
pub struct GoogleGrant {
    /// The impersonated user (`sub`); without one the Directory API refuses every call.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Instant,
}

#[derive(Debug, Default)]
pub struct Tokens {
    pub graph: HashMap<String, GraphGrant>,
    pub google: HashMap<String, GoogleGrant>,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Unknown,
    Expired,
}

impl Tokens {
    pub fn graph(&self, token: Option<&str>, now: Instant) -> Result<GraphGrant, Rejection> {
        let grant = self
            .graph
            .get(token.ok_or(Rejection::Missing)?)
            .ok_or(Rejection::Unknown)?;
        if grant.expires_at <= now {
            return Err(Rejection::Expired);
        }
        Ok(grant.clone())
    }

    pub fn google(&self, token: Option<&str>, now: Instant) -> Result<GoogleGrant, Rejection> {
        let grant = self
            .google
            .get(token.ok_or(Rejection::Missing)?)
            .ok_or(Rejection::Unknown)?;
        if grant.expires_at <= now {
            return Err(Rejection::Expired);
        }
        Ok(grant.clone())
    }

    /// Forgets expired tokens so a long-running sandbox does not grow without bound.
    pub fn sweep(&mut self, now: Instant) {
        self.graph.retain(|_, g| g.expires_at > now);
        self.google.retain(|_, g| g.expires_at > now);
    }
}
