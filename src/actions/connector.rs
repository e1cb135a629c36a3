//! Connector actions (`entra.*`, `google.*`, `hr.*`, `scim.*`, `email.*`): arguments compiled as
//! templates at load time, rendered into an `ArgMap` when the step runs, and executed by the
//! connection named in `connection:` (default: `default_connection`, e.g. `entra`, `smtp`).

use serde_json::{json, Map, Value};

use super::{ActionError, Outcome, StepContext};
use crate::connectors::args::ArgMap;
use crate::connectors::{entra, google, hr, identity, mail, scim, Connections};
use crate::plan::preview::{Planned, Preview};
use crate::playbook::args::Args;
use crate::script::ValueTemplate;

/// A connector action's name and its arguments (name, required).
pub type Spec = (&'static str, &'static [(&'static str, bool)]);

/// The connector actions whose arguments may carry secret outputs in clear text.
pub const REVEALS_SECRETS: &[&str] = &["email.send"];

/// Every connector action.
pub fn specs() -> impl Iterator<Item = &'static Spec> {
    entra::ACTIONS
        .iter()
        .chain(google::ACTIONS)
        .chain(hr::ACTIONS)
        .chain(scim::ACTIONS)
        .chain(mail::ACTIONS)
        .chain(identity::ACTIONS)
}

/// The connection a step uses when it names none: the connector's own name, except that
/// `email.*` sends through `smtp`.
fn default_connection(name: &str) -> &str {
    match name.split('.').next().unwrap_or(name) {
        "email" => "smtp",
        kind => kind,
    }
}

pub fn spec(name: &str) -> Option<&'static Spec> {
    specs().find(|(n, _)| *n == name)
}

/// A compiled connector step.
#[derive(Debug)]
pub struct Connector {
    pub name: &'static str,
    connection: String,
    args: Vec<(&'static str, ValueTemplate)>,
}

impl Connector {
    pub fn compile(spec: &'static Spec, args: &mut Args<'_, '_>) -> Option<Connector> {
        let (name, params) = *spec;
        let connection = args
            .literal("connection", false)
            .unwrap_or_else(|| default_connection(name).to_string());
        let mut compiled = Vec::new();
        let mut ok = true;
        for (param, required) in params.iter().copied() {
            match args.template(param, required) {
                Some(t) => compiled.push((param, t)),
                None if required => ok = false,
                None => {}
            }
        }
        ok.then_some(Connector {
            name,
            connection,
            args: compiled,
        })
    }

    /// Renders the arguments from the run's variables.
    pub fn prepare(&self, cx: &StepContext<'_>) -> Result<Call, ActionError> {
        let mut rendered = Map::new();
        for (name, t) in &self.args {
            rendered.insert((*name).to_string(), cx.scripting.render(t, &cx.vars)?);
        }
        Ok(Call {
            name: self.name,
            connection: self.connection.clone(),
            args: ArgMap(rendered),
        })
    }
}

/// A rendered connector call.
pub struct Call {
    name: &'static str,
    connection: String,
    args: ArgMap,
}

/// Names the arguments but never prints their values: `email.send` renders them with secrets
/// opened.
impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("name", &self.name)
            .field("connection", &self.connection)
            .field("args", &self.args.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Call {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The rendered arguments (`email.send`'s may hold opened secrets: never print them).
    pub fn args(&self) -> &ArgMap {
        &self.args
    }

    /// What the call would do, found with reads only (`roster plan`); `None` when its connector
    /// has no preview for it. `planned` names the objects earlier steps would create.
    pub async fn preview(
        &self,
        connections: &Connections,
        planned: &Planned,
    ) -> Result<Option<Preview>, ActionError> {
        let (name, args, conn) = (self.name, &self.args, self.connection.as_str());
        match name.split('.').next() {
            Some("entra") => connections.entra(conn)?.preview(name, args, planned).await,
            Some("google") => connections.google(conn)?.preview(name, args, planned).await,
            Some("hr") => connections.http(conn)?.preview(name, args).await,
            Some("email") => connections.smtp(conn)?.preview(name, args),
            _ => Ok(None),
        }
    }

    pub async fn execute(self, connections: &Connections) -> Result<Outcome, ActionError> {
        let out = match self.name.split('.').next() {
            Some("entra") => {
                connections
                    .entra(&self.connection)?
                    .execute(self.name, &self.args)
                    .await?
            }
            Some("google") => {
                connections
                    .google(&self.connection)?
                    .execute(self.name, &self.args)
                    .await?
            }
            Some("hr") => {
                connections
                    .http(&self.connection)?
                    .execute(self.name, &self.args)
                    .await?
            }
            Some("scim") => {
                connections
                    .scim(&self.connection)?
                    .execute(self.name, &self.args)
                    .await?
            }
            Some("email") => {
                connections
                    .smtp(&self.connection)?
                    .execute(self.name, &self.args)
                    .await?
            }
            Some("identity") => identity::execute(connections, self.name, &self.args).await?,
            _ => {
                return Err(ActionError::permanent(format!(
                    "no connector executes '{}'",
                    self.name
                )))
            }
        };
        // A user without a usable Google address is a person's decision, never a silent drop:
        // the run parks in the review queue with the reason, like a failed `validate`.
        let mut out = out;
        let park = self.name == "identity.google_user"
            && out
                .as_object_mut()
                .and_then(|o| o.remove("park"))
                .is_some_and(|p| p == json!(true));
        if park {
            let reason = out.get("reason").cloned().unwrap_or(Value::Null);
            let mut outputs = out;
            outputs["valid"] = json!(false);
            outputs["errors"] = json!([{ "field": "custom.google_address", "reason": reason }]);
            return Ok(Outcome::Park(super::Park::Review { outputs }));
        }
        Ok(Outcome::Done(out))
    }
}
