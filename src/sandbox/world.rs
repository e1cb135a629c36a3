//! The sandbox's shared state: the seed it started from, the public keys compiled from it, the
//! mutable `State` behind one lock, the live fault configuration and request counters.
//!
//! Every handler takes the lock, does its work and drops it before returning; nothing awaits
//! while holding it, so a std `Mutex` is enough.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::faults::{Fault, FaultConfig, Faults};
use super::google::model::Workspace;
use super::graph::model::Entra;
use super::hr::Hr;
use super::keys::PublicKey;
use super::seed::SandboxSeed;
use super::tokens::Tokens;

/// Everything that changes while the sandbox runs; rebuilt from the seed by `reset`.
pub struct State {
    pub entra: Entra,
    pub google: Workspace,
    pub hr: Hr,
    pub tokens: Tokens,
    /// Bumped by `reset`, so delayed work (bulkUpload) started before a reset is dropped.
    pub generation: u64,
}

pub struct World {
    pub seed: SandboxSeed,
    pub base_url: String,
    /// Entra app certificates by client id.
    pub client_keys: HashMap<String, PublicKey>,
    /// Google service-account keys by client e-mail (lowercase).
    pub service_account_keys: HashMap<String, PublicKey>,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    /// Requests answered, by route (`GET /v1.0/users`) and status.
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
}

impl World {
    pub fn new(seed: SandboxSeed, faults: FaultConfig, base_url: String) -> anyhow::Result<World> {
        let problems = seed.problems();
        if !problems.is_empty() {
            anyhow::bail!("invalid sandbox seed:\n  - {}", problems.join("\n  - "));
        }
        let mut client_keys = HashMap::new();
        for c in &seed.entra.clients {
            if let Some(pem) = &c.certificate_pem {
                let key = PublicKey::from_pem(pem).map_err(anyhow::Error::msg)?;
                client_keys.insert(c.client_id.to_ascii_lowercase(), key);
            }
        }
        let mut service_account_keys = HashMap::new();
        for sa in &seed.google.service_accounts {
            let key = PublicKey::from_pem(&sa.public_key_pem).map_err(anyhow::Error::msg)?;
            service_account_keys.insert(sa.client_email.to_ascii_lowercase(), key);
        }
        let state = State::from_seed(&seed, 0);
        Ok(World {
            seed,
            base_url,
            client_keys,
            service_account_keys,
            state: Mutex::new(state),
            faults: Mutex::new(Faults::new(faults)),
            requests: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn fault_config(&self) -> FaultConfig {
        self.faults().config().clone()
    }

    pub fn set_faults(&self, config: FaultConfig) {
        *self.faults() = Faults::new(config);
    }

    /// The latency to add to this request and the fault (if any) to answer it with.
    pub fn draw_fault(&self) -> (Duration, Option<Fault>) {
        let mut f = self.faults();
        (f.latency(), f.draw())
    }

    /// When an object created now becomes visible to reads and references.
    pub fn visible_from(&self, now: Instant) -> Instant {
        now + self.faults().replication_delay()
    }

    /// Restores the seed; tokens already issued stay valid.
    pub fn reset(&self) {
        let mut st = self.lock();
        let tokens = std::mem::take(&mut st.tokens);
        let generation = st.generation + 1;
        *st = State::from_seed(&self.seed, generation);
        st.tokens = tokens;
        drop(st);
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Forgets every Graph delta token, as Graph does after seven days.
    pub fn expire_delta_tokens(&self) {
        self.lock().entra.delta.expire_all();
    }

    pub fn count(&self, route: String, status: u16) {
        let mut r = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *r.entry(route).or_default().entry(status).or_default() += 1;
    }

    pub fn request_counts(&self) -> BTreeMap<String, BTreeMap<u16, u64>> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl State {
    pub fn from_seed(seed: &SandboxSeed, generation: u64) -> State {
        let now = Instant::now();
        State {
            entra: Entra::from_seed(&seed.entra, now),
            google: Workspace::from_seed(&seed.google, now),
            hr: Hr::from_seed(&seed.hr),
            tokens: Tokens::default(),
            generation,
        }
    }
}
