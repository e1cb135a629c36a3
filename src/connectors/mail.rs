//! `email.send` over an `smtp` connection.
//!
//! `email.send` (`to`: an address or a list; `cc`; `reply_to`; `subject`; `body`: plain text;
//! `html`: an optional HTML alternative) → `message_id` and `to` (never the body). It is the one
//! action whose arguments see secret outputs of earlier steps in clear text (a first-sign-in
//! password for a manager), so neither the body nor the rendered arguments are ever logged or
//! returned.
//!
//! Security follows the connection's `security`: `starttls` (default, port 587) upgrades the
//! connection and refuses to send — or to authenticate — when the server does not offer
//! STARTTLS; `tls` (port 465) is TLS from the first byte; `none` (port 25) is for a relay on
//! localhost or a test server only. With `username` and `password` the client authenticates
//! (PLAIN or LOGIN). A 4xx reply and a failed connection are transient (retried); a 5xx reply, a
//! server without STARTTLS or a certificate that does not verify fail the step.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{json, Value};

use super::args::ArgMap;
use super::transient;
use crate::actions::ActionError;
use crate::config::{SmtpConfig, SmtpSecurity};
use crate::plan::preview::{Effect, Preview};

/// Each SMTP command's limit: a stalled relay fails (and is retried) instead of hanging a run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The whole conversation's limit, whatever the relay does between commands.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// The `email.*` actions and the arguments each takes: (name, required).
pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[(
    "email.send",
    &[
        ("to", true),
        ("cc", false),
        ("reply_to", false),
        ("subject", true),
        ("body", true),
        ("html", false),
    ],
)];

/// One SMTP relay and the sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where the relay is, for messages.
    relay: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(config: &SmtpConfig, base_dir: &Path) -> Result<Mailer, String> {
        let from = Mailbox::from_str(&config.from)
            .map_err(|e| format!("from '{}' is not an address: {e}", config.from))?;
        let tls = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(config.host.clone());
            if let Some(ca) = &config.tls_ca {
                let path = base_dir.join(ca);
                let pem = std::fs::read(&path)
                    .map_err(|e| format!("tls_ca: cannot read {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    format!("tls_ca: {} is not a PEM certificate: {e}", path.display())
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build().map_err(|e| format!("TLS settings: {e}"))
        };
        let (tls, default_port) = match config.security {
            SmtpSecurity::Starttls => (Tls::Required(tls()?), 587),
            SmtpSecurity::Tls => (Tls::Wrapper(tls()?), 465),
            SmtpSecurity::None => (Tls::None, 25),
        };
        let port = config.port.unwrap_or(default_port);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                let password = password
                    .resolve(base_dir)
                    .map_err(|e| format!("password: {e}"))?;
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ));
            }
            (None, None) => {}
            _ => return Err("give both username and password, or neither".into()),
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            relay: format!("{}:{port}", config.host),
        })
    }

    /// Executes the action `name` (one of `ACTIONS`).
    pub async fn execute(&self, name: &str, args: &ArgMap) -> Result<Value, ActionError> {
        match name {
            "email.send" => self.send(args).await,
            other => Err(ActionError::permanent(format!(
                "unknown e-mail action '{other}'"
            ))),
        }
    }

    /// The preview of `email.send` (`roster plan`): who would get what subject; the body is
    /// not shown (it may hold a first-sign-in password).
    pub fn preview(&self, name: &str, args: &ArgMap) -> Result<Option<Preview>, ActionError> {
        if name != "email.send" {
            return Ok(None);
        }
        let to = mailboxes(args, "to")?;
        if to.is_empty() {
            return Err(ActionError::permanent("argument 'to' names no recipient"));
        }
        let cc = mailboxes(args, "cc")?;
        let subject = args.str("subject")?;
        let list = |v: &[Mailbox]| v.iter().map(|m| m.email.to_string()).collect::<Vec<_>>();
        let recipients = list(&to).join(", ");
        let mut outputs = json!({ "message_id": null, "to": list(&to) });
        if !cc.is_empty() {
            outputs["cc"] = json!(list(&cc));
        }
        let summary = format!(
            "send mail to {recipients} through {}: {subject}",
            self.relay
        );
        Ok(Some(
            Preview::new(Effect::Send, summary, outputs)
                .target(recipients)
                .detail(json!({ "subject": subject, "cc": list(&cc) })),
        ))
    }

    async fn send(&self, args: &ArgMap) -> Result<Value, ActionError> {
        let to = mailboxes(args, "to")?;
        if to.is_empty() {
            return Err(ActionError::permanent("argument 'to' names no recipient"));
        }
        let cc = mailboxes(args, "cc")?;
        let domain = self.from.email.domain().to_string();
        let message_id = format!("<{}@{domain}>", uuid::Uuid::now_v7());
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(args.str("subject")?)
            .message_id(Some(message_id.clone()))
            .date_now();
        for m in &to {
            b = b.to(m.clone());
        }
        for m in &cc {
            b = b.cc(m.clone());
        }
        if let Some(r) = mailboxes(args, "reply_to")?.into_iter().next() {
            b = b.reply_to(r);
        }
        // The body is not trimmed: leading indentation can matter in plain text.
        let body = match args.value("body") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(ActionError::permanent("argument 'body' is empty")),
        };
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body);
        let built = match args.opt_str("html")? {
            Some(html) => b.multipart(
                MultiPart::alternative()
                    .singlepart(text)
                    .singlepart(SinglePart::html(html.to_string())),
            ),
            None => b.singlepart(text),
        };
        // Building fails only on missing headers or addresses; never quote the message.
        let message =
            built.map_err(|e| ActionError::permanent(format!("cannot build the e-mail: {e}")))?;
        if super::read_only::active() {
            return Err(ActionError::permanent(format!(
                "refused to send mail through {}: a plan sends nothing",
                self.relay
            )));
        }
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent.map_err(|e| self.failure(&e))?,
            Err(_) => {
                return Err(transient(
                    format!(
                        "SMTP relay {}: no answer within {SEND_TIMEOUT:?}",
                        self.relay
                    ),
                    None,
                ))
            }
        };
        let list = |v: &[Mailbox]| v.iter().map(|m| m.email.to_string()).collect::<Vec<_>>();
        let mut out = json!({ "message_id": message_id, "to": list(&to) });
        if !cc.is_empty() {
            out["cc"] = json!(list(&cc));
        }
        Ok(out)
    }

    /// 4xx replies and lost connections are worth retrying; 5xx replies, TLS failures (a
    /// certificate that does not verify) and client-side refusals (no STARTTLS, no usable AUTH
    /// mechanism) are not.
    fn failure(&self, e: &lettre::transport::smtp::Error) -> ActionError {
        let message = format!("SMTP relay {}: {}", self.relay, chain(e));
        if e.is_transient() || e.is_timeout() {
            transient(message, None)
        } else if e.is_permanent() || e.is_tls() || e.is_client() || tls_refused(e) {
            ActionError::Permanent(message)
        } else {
            transient(message, None)
        }
    }
}

/// Whether a connection error is a TLS handshake that failed (lettre reports those as
/// connection errors wrapping rustls' error).
fn tls_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// `to`, `cc` or `reply_to`: addresses, each `a@b` or `Name <a@b>`.
fn mailboxes(args: &ArgMap, name: &str) -> Result<Vec<Mailbox>, ActionError> {
    args.str_list(name)?
        .iter()
        .flat_map(|s| s.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()))
        .map(|s| {
            Mailbox::from_str(s).map_err(|e| {
                ActionError::permanent(format!("argument '{name}': '{s}' is not an address: {e}"))
            })
        })
        .collect()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let next = inner.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_one_or_a_list_of_addresses() {
        let args = ArgMap(
            serde_json::from_value(json!({
                "to": ["Jane Doe <jane@example.com>", "a@example.com, b@example.com"],
                "cc": "boss@example.com",
                "reply_to": "not an address",
            }))
            .unwrap_or_default(),
        );
        let to = mailboxes(&args, "to").unwrap_or_default();
        assert_eq!(to.len(), 3);
        assert_eq!(to[0].name.as_deref(), Some("Jane Doe"));
        assert_eq!(mailboxes(&args, "cc").unwrap_or_default().len(), 1);
        let Err(e) = mailboxes(&args, "reply_to") else {
            panic!("a bad address must fail")
        };
        assert!(e.to_string().contains("reply_to"), "{e}");
    }
}
