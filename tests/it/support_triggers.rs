//! What the trigger tests share: an engine over a private database with playbooks loaded from
//! text and a config, the events it recorded, and a router served on a loopback port.

#![allow(dead_code)]

use std::sync::Arc;

use crate::support::{on_db, Db};
use roster::config::Config;
use roster::connectors::Connections;
use roster::engine::Engine;
use roster::playbook::{self, Playbook};
use roster::store::{Store, StoreOptions};
use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub engine: Arc<Engine>,
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
    pub config: Arc<Config>,
}

/// A config from YAML text (relative files are relative to `dir`).
pub fn config(dir: &std::path::Path, yaml: &str) -> Config {
    Config::from_parts("roster.yaml", Some(yaml), &[], dir.to_path_buf())
        .unwrap_or_else(|e| panic!("config: {e}"))
}

/// An engine over the database at `url`, with `config`'s connections and these playbooks.
pub async fn engine(
    url: &str,
    config: &Config,
    playbooks: &[&str],
) -> (Arc<Engine>, Arc<Vec<Arc<Playbook>>>) {
    let store = Store::open(url, &StoreOptions::default())
        .await
        .expect("open store");
    let engine = Engine::new(store);
    let connections = Connections::from_config(config, engine.http()).expect("connections");
    let engine = Arc::new(engine.with_connections(connections));
    let mut loaded = Vec::new();
    for (i, text) in playbooks.iter().enumerate() {
        let pb = playbook::load_text(&format!("p{i}.yaml"), text, engine.scripting())
            .unwrap_or_else(|d| panic!("playbook does not load:\n{d}"));
        loaded.push(engine.register(pb).await.expect("register"));
    }
    (engine, Arc::new(loaded))
}

impl Env {
    pub async fn new(playbooks: &[&str], config_yaml: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::support_pg::store_url(dir.path());
        let config = config(dir.path(), config_yaml);
        let (engine, playbooks) = engine(&url, &config, playbooks).await;
        Env {
            dir,
            url,
            engine,
            playbooks,
            config: Arc::new(config),
        }
    }

    /// Bodies of the recorded events of `kind`, oldest first.
    pub async fn events(&self, kind: &str) -> Vec<Value> {
        events(&self.engine, kind).await
    }

    /// `(playbook, event body)` of every run, oldest first.
    pub async fn runs(&self) -> Vec<(String, Value)> {
        let rows: Vec<(String, String)> = on_db!(&Db::of(self.engine.store()), |pool| {
            sqlx::query_as("SELECT playbook, event FROM runs ORDER BY seq")
                .fetch_all(pool)
                .await
                .expect("runs")
        });
        rows.into_iter()
            .map(|(p, e)| (p, serde_json::from_str(&e).unwrap_or(Value::Null)))
            .collect()
    }
}

pub async fn events(engine: &Engine, kind: &str) -> Vec<Value> {
    let bodies: Vec<String> = on_db!(&Db::of(engine.store()), |pool| {
        sqlx::query_scalar("SELECT body FROM events WHERE type = $1 ORDER BY received_at, id")
            .bind(kind)
            .fetch_all(pool)
            .await
            .expect("events")
    });
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or(Value::Null))
        .collect()
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
