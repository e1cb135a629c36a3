//! `roster token create|list|revoke`: bearer tokens for the HTTP API and (`--scim`) the inbound
//! SCIM endpoint.

use super::execute::open_engine;
use super::{Global, TokenCommand};
use crate::api::auth;
use crate::clock::{now_ms, rfc3339};

pub(super) async fn token(g: &Global, cmd: TokenCommand) -> anyhow::Result<i32> {
    let engine = open_engine(g).await?;
    let store = engine.store();
    match cmd {
        TokenCommand::Create { name, scim } => {
            let scope = if scim {
                auth::TokenScope::Scim
            } else {
                auth::TokenScope::Api
            };
            let issued = auth::issue(store, &name, scope).await?;
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": issued.id, "name": name, "scope": scope.as_str(), "token": issued.token
                    })
                );
            } else {
                println!("{}", issued.token);
                eprintln!(
                    "token '{name}' ({}) created; it is shown only now, keep it somewhere safe",
                    issued.id
                );
            }
            Ok(0)
        }
        TokenCommand::List => {
            let tokens = store.tokens().await?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:<14} {:<24} {:<6} {:<26} revoked",
                    "id", "name", "scope", "created"
                );
                for t in &tokens {
                    println!(
                        "{:<14} {:<24} {:<6} {:<26} {}",
                        t.id,
                        t.name,
                        t.scope,
                        rfc3339(t.created_at),
                        t.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into())
                    );
                }
            }
            Ok(0)
        }
        TokenCommand::Revoke { token } => {
            if store.revoke_token(&token, now_ms()).await? {
                println!("token '{token}' revoked");
                Ok(0)
            } else {
                eprintln!("error: no active token named or with id '{token}'");
                Ok(1)
            }
        }
    }
}
