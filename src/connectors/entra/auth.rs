//! App-only tokens from the Microsoft identity platform: the client credentials grant with a
//! client secret or a certificate assertion (a JWT signed with the app's private key, CONTRACT §1).

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::config::EntraConfig;
use crate::connectors::{token, Fetched};
use crate::secret::Secret;

/// Graph's scope under client credentials: every permission the app was granted.
const SCOPE: &str = "https://graph.microsoft.com/.default";

#[derive(Debug)]
pub struct Credentials {
    token_url: String,
    client_id: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Secret(Secret),
    Certificate {
        key: Box<KeyDebug>,
        algorithm: Algorithm,
        /// base64url SHA-1 (`x5t`) and SHA-256 (`x5t#S256`) of the certificate's DER.
        x5t: String,
        x5t_s256: String,
    },
}

/// An encoding key that never prints.
pub struct KeyDebug(EncodingKey);

impl std::fmt::Debug for KeyDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::secret::MASK)
    }
}

#[derive(Serialize)]
struct Assertion<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl Credentials {
    pub fn new(config: &EntraConfig, base_dir: &Path) -> Result<Credentials, String> {
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            config.authority_url.trim_end_matches('/'),
            config.tenant_id
        );
        let kind = match (&config.client_secret, &config.certificate) {
            (Some(s), _) => Kind::Secret(
                s.resolve(base_dir)
                    .map_err(|e| format!("client_secret: {e}"))?,
            ),
            (None, Some(c)) => {
                let cert_path = base_dir.join(&c.certificate);
                let pem = std::fs::read_to_string(&cert_path).map_err(|e| {
                    format!("certificate: cannot read {}: {e}", cert_path.display())
                })?;
                let der = pem_body(&pem, "CERTIFICATE").ok_or_else(|| {
                    format!(
                        "certificate: {} holds no PEM CERTIFICATE",
                        cert_path.display()
                    )
                })?;
                let key = c
                    .private_key
                    .resolve(base_dir)
                    .map_err(|e| format!("certificate.private_key: {e}"))?;
                let key = EncodingKey::from_rsa_pem(key.expose().as_bytes()).map_err(|e| {
                    format!("certificate.private_key is not an RSA private key in PEM: {e}")
                })?;
                let algorithm = match c.algorithm.as_str() {
                    "PS256" => Algorithm::PS256,
                    "RS256" => Algorithm::RS256,
                    other => {
                        return Err(format!(
                            "certificate.algorithm '{other}': use PS256 or RS256"
                        ))
                    }
                };
                Kind::Certificate {
                    key: Box::new(KeyDebug(key)),
                    algorithm,
                    x5t: URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
                    x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
                }
            }
            (None, None) => return Err("give client_secret or certificate".into()),
        };
        Ok(Credentials {
            token_url,
            client_id: config.client_id.clone(),
            kind,
        })
    }

    /// Requests a token. Errors are the identity platform's `error_description`, which names
    /// the problem (AADSTS7000215 invalid secret, AADSTS700027 bad assertion, …).
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        connection: &str,
    ) -> Result<Fetched, (bool, String)> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", SCOPE.into()),
        ];
        match &self.kind {
            Kind::Secret(s) => form.push(("client_secret", s.expose().to_string())),
            Kind::Certificate {
                key,
                algorithm,
                x5t,
                x5t_s256,
            } => {
                let now = chrono::Utc::now().timestamp();
                let mut header = Header::new(*algorithm);
                header.typ = Some("JWT".into());
                match algorithm {
                    Algorithm::RS256 => header.x5t = Some(x5t.clone()),
                    _ => header.x5t_s256 = Some(x5t_s256.clone()),
                }
                let claims = Assertion {
                    aud: &self.token_url,
                    iss: &self.client_id,
                    sub: &self.client_id,
                    jti: uuid::Uuid::now_v7().to_string(),
                    nbf: now,
                    iat: now,
                    exp: now + 300,
                };
                let jwt = jsonwebtoken::encode(&header, &claims, &key.0)
                    .map_err(|e| (false, format!("signing the client assertion failed: {e}")))?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", jwt));
            }
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token::request(
            http,
            connection,
            &self.token_url,
            &form,
            "the identity platform refused a token",
        )
        .await
    }
}

/// The DER bytes of the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}
