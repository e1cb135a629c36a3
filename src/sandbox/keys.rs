//! Public keys that verify JWT assertions: an Entra app's certificate (with its SHA-1 and
//! SHA-256 thumbprints, matched against `x5t` / `x5t#S256`) or a Google service account's
//! certificate or public key. Signature and claim checks are `jsonwebtoken`'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::der::{DecodePem, Encode};

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// An RSA public key, with the thumbprints of the certificate it came from (if any).
#[derive(Clone)]
pub struct PublicKey {
    pub key: DecodingKey,
    /// base64url(SHA-1(certificate DER)): the `x5t` header.
    pub x5t: Option<String>,
    /// base64url(SHA-256(certificate DER)): the `x5t#S256` header.
    pub x5t_s256: Option<String>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("x5t", &self.x5t).finish()
    }
}

impl PublicKey {
    /// Reads a PEM `CERTIFICATE` or RSA `PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        if pem.contains("BEGIN CERTIFICATE") {
            let cert = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
                .map_err(|e| format!("not a readable PEM certificate: {e}"))?;
            let der = cert
                .to_der()
                .map_err(|e| format!("cannot encode the certificate: {e}"))?;
            let spki = &cert.tbs_certificate.subject_public_key_info;
            if spki.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
                return Err("the certificate's key is not an RSA key".into());
            }
            Ok(PublicKey {
                key: DecodingKey::from_rsa_der(spki.subject_public_key.raw_bytes()),
                x5t: Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der))),
                x5t_s256: Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der))),
            })
        } else {
            let key = DecodingKey::from_rsa_pem(pem.trim().as_bytes())
                .map_err(|e| format!("not a PEM certificate or RSA public key: {e}"))?;
            Ok(PublicKey {
                key,
                x5t: None,
                x5t_s256: None,
            })
        }
    }
}

/// Why an assertion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionFault {
    Malformed,
    Signature,
    Expired,
    Audience,
    Issuer,
    Subject,
    Algorithm,
}

/// What an assertion must satisfy besides its signature.
pub struct Expect<'a> {
    pub algorithms: &'a [Algorithm],
    pub audiences: &'a [String],
    pub issuer: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// Verifies `token` with `key`, returning its claims.
pub fn verify(token: &str, key: &DecodingKey, expect: &Expect) -> Result<Value, AssertionFault> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AssertionFault::Malformed)?;
    if !expect.algorithms.contains(&header.alg) {
        return Err(AssertionFault::Algorithm);
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(expect.audiences);
    let mut required = vec!["exp", "aud"];
    if let Some(iss) = expect.issuer {
        validation.set_issuer(&[iss]);
        required.push("iss");
    }
    if let Some(sub) = expect.subject {
        validation.sub = Some(sub.to_string());
        required.push("sub");
    }
    validation.set_required_spec_claims(&required);
    jsonwebtoken::decode::<Value>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature | K::InvalidRsaKey(_) | K::InvalidKeyFormat => {
                    AssertionFault::Signature
                }
                K::ExpiredSignature | K::ImmatureSignature => AssertionFault::Expired,
                K::InvalidAudience => AssertionFault::Audience,
                K::InvalidIssuer => AssertionFault::Issuer,
                K::InvalidSubject => AssertionFault::Subject,
                K::InvalidAlgorithm => AssertionFault::Algorithm,
                K::MissingRequiredClaim(c) if c == "aud" => AssertionFault::Audience,
                K::MissingRequiredClaim(c) if c == "iss" => AssertionFault::Issuer,
                K::MissingRequiredClaim(c) if c == "sub" => AssertionFault::Subject,
                K::MissingRequiredClaim(_) => AssertionFault::Expired,
                _ => AssertionFault::Malformed,
            }
        })
}

/// The unverified claims of a JWT, to find out which key should verify it.
pub fn peek_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
