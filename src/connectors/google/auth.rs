//! Service-account tokens with domain-wide delegation (CONTRACT §1): an RS256 assertion signed
//! with the key file's private key, exchanged at the token endpoint for a one-hour access token.
//! Google issues no refresh token, so a new assertion is minted whenever the cache runs out.

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::config::GoogleConfig;
use crate::connectors::{token, Fetched};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What the actions and the triggers need: user writes, group and membership reads.
pub const DEFAULT_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];

/// Google's maximum assertion lifetime.
const LIFETIME_S: i64 = 3600;

/// The key file fields we use; the others (project_id, client_id, …) are ignored.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
}

/// A service account acting as an admin.
#[derive(Debug)]
pub struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: SigningKey,
    pub token_url: String,
    subject: String,
    scope: String,
}

/// An RSA key that never prints.
struct SigningKey(EncodingKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::secret::MASK)
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

impl ServiceAccount {
    pub fn new(config: &GoogleConfig, base_dir: &Path) -> Result<ServiceAccount, String> {
        let text = config
            .service_account_key
            .resolve(base_dir)
            .map_err(|e| format!("service_account_key: {e}"))?;
        ServiceAccount::from_key_json(text.expose(), config)
    }

    fn from_key_json(json: &str, config: &GoogleConfig) -> Result<ServiceAccount, String> {
        // Never quote serde's message: it may echo part of the private key.
        let file: KeyFile = serde_json::from_str(json).map_err(|_| {
            "service_account_key is not a Google service-account key file (JSON with \
             client_email, private_key and token_uri)"
                .to_string()
        })?;
        let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes()).map_err(|_| {
            "service_account_key: private_key is not an RSA private key in PEM".to_string()
        })?;
        let scopes: Vec<String> = match &config.scopes {
            Some(s) if !s.is_empty() => s.clone(),
            _ => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        Ok(ServiceAccount {
            client_email: file.client_email,
            key_id: file.private_key_id,
            key: SigningKey(key),
            token_url: config.token_url.clone().unwrap_or(file.token_uri),
            subject: config.admin.clone(),
            scope: scopes.join(" "),
        })
    }

    /// The signed assertion for a token request made at `now` (Unix seconds).
    pub fn assertion(&self, now: i64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: self.client_email.clone(),
            sub: self.subject.clone(),
            scope: self.scope.clone(),
            aud: self.token_url.clone(),
            iat: now,
            exp: now + LIFETIME_S,
        };
        jsonwebtoken::encode(&header, &claims, &self.key.0)
            .map_err(|e| format!("signing the token assertion failed: {e}"))
    }

    /// Requests a token; the error says whether trying again can help. Errors carry Google's
    /// `error_description` (e.g. `unauthorized_client` when delegation or a scope is missing).
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        connection: &str,
    ) -> Result<Fetched, (bool, String)> {
        let jwt = self
            .assertion(chrono::Utc::now().timestamp())
            .map_err(|e| (false, e))?;
        let refused = format!(
            "Google refused a token for {} acting as {}",
            self.client_email, self.subject
        );
        token::request(
            http,
            connection,
            &self.token_url,
            &[("grant_type", JWT_BEARER), ("assertion", jwt.as_str())],
            &refused,
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    /// A 2048-bit test key pair made for these tests only.
    const PRIVATE: &str = include_str!("testdata/key.pem");
    const PUBLIC: &str = include_str!("testdata/key.pub.pem");

    fn config(scopes: Option<Vec<String>>, token_url: Option<&str>) -> GoogleConfig {
        GoogleConfig {
            service_account_key: crate::secret::SecretRef::Value(String::new()),
            admin: "admin@example.com".into(),
            customer_id: "my_customer".into(),
            token_url: token_url.map(String::from),
            base_url: "https://admin.googleapis.com".into(),
            scopes,
            limits: None,
        }
    }

    fn key_json() -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "kid-123",
            "private_key": PRIVATE,
            "client_email": "sa@p.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
            "universe_domain": "googleapis.com",
        })
        .to_string()
    }

    #[test]
    fn the_assertion_has_googles_header_and_claims() {
        let sa = ServiceAccount::from_key_json(&key_json(), &config(None, None)).unwrap();
        let jwt = sa.assertion(1_700_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some("kid-123"));
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.set_audience(&["https://oauth2.googleapis.com/token"]);
        let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<Claims>(&jwt, &key, &v)
            .expect("signature verifies with the public key")
            .claims;
        assert_eq!(
            claims,
            Claims {
                iss: "sa@p.iam.gserviceaccount.com".into(),
                sub: "admin@example.com".into(),
                scope: DEFAULT_SCOPES.join(" "),
                aud: "https://oauth2.googleapis.com/token".into(),
                iat: 1_700_000_000,
                exp: 1_700_003_600,
            }
        );
    }

    #[test]
    fn a_configured_token_url_and_scopes_win() {
        let scopes = vec!["a".to_string(), "b".to_string()];
        let sa = ServiceAccount::from_key_json(
            &key_json(),
            &config(Some(scopes), Some("http://127.0.0.1:9/token")),
        )
        .unwrap();
        assert_eq!(sa.token_url, "http://127.0.0.1:9/token");
        let jwt = sa.assertion(0).unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims: Claims = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(claims.scope, "a b");
        assert_eq!(claims.aud, "http://127.0.0.1:9/token");
    }

    #[test]
    fn a_broken_key_file_never_echoes_the_key() {
        let broken = key_json().replace("\"client_email\"", "\"client_mail\"");
        let e = ServiceAccount::from_key_json(&broken, &config(None, None)).unwrap_err();
        assert!(!e.contains("PRIVATE KEY"), "{e}");
        let not_pem = key_json().replace("BEGIN PRIVATE KEY", "BEGIN NOTHING");
        let e = ServiceAccount::from_key_json(&not_pem, &config(None, None)).unwrap_err();
        assert!(e.contains("not an RSA private key"), "{e}");
        assert!(!format!(
            "{:?}",
            ServiceAccount::from_key_json(&key_json(), &config(None, None)).unwrap()
        )
        .contains("PRIVATE"));
    }
}
