//! Secrets: credentials from the config, and secret step outputs (a generated password).
//!
//! `Secret` holds a credential in memory; its `Debug` prints a mask and it has no `Serialize`, so
//! it cannot reach a log line or an API response by accident. `SecretRef` is how the config names
//! one: an environment variable or a file, never the value itself. `SecretBox` seals secret step
//! outputs (ChaCha20-Poly1305 with a key from the config) before they are stored.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What a masked secret prints as.
pub const MASK: &str = "••••••";

/// The key of a sealed value inside step outputs: `{"$secret": "v1:…"}`.
pub const SEALED_KEY: &str = "$secret";

/// A credential held in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Arc::from(value.into()))
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

/// Where the config says a secret is: `{ env: NAME }` or `{ file: PATH }`. A plain string is
/// accepted only from an environment override (the config loader refuses one in the file).
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Env {
        env: String,
    },
    File {
        file: PathBuf,
    },
    /// Set through a `ROSTER_…` environment override.
    Value(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env { env } => write!(f, "env:{env}"),
            SecretRef::File { file } => write!(f, "file:{}", file.display()),
            SecretRef::Value(_) => write!(f, "{MASK}"),
        }
    }
}

impl SecretRef {
    /// Reads the secret; a relative file is relative to the config file's directory. Files keep
    /// their content minus a trailing newline.
    pub fn resolve(&self, base: &Path) -> Result<Secret, String> {
        match self {
            SecretRef::Env { env } => match std::env::var(env) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                Ok(_) => Err(format!("environment variable {env} is empty")),
                Err(_) => Err(format!("environment variable {env} is not set")),
            },
            SecretRef::File { file } => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
            }
            SecretRef::Value(v) => Ok(Secret::new(v.clone())),
        }
    }
}

/// Seals and opens secret step outputs.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBox({MASK})")
    }
}

impl SecretBox {
    /// A box from a 32-byte key given as base64 (`openssl rand -base64 32`).
    pub fn from_base64(key: &Secret) -> Result<SecretBox, String> {
        let bytes = B64.decode(key.expose().trim()).map_err(|_| {
            "the secrets key is not base64 (make one with `openssl rand -base64 32`)"
        })?;
        if bytes.len() != 32 {
            return Err(format!(
                "the secrets key is {} bytes; it must be 32 (`openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// A random key held only in memory.
    pub fn ephemeral() -> SecretBox {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// The key in `path`, created (32 random bytes, mode 0600) if missing: the embedded
    /// default, so secret outputs are never stored in clear text even without a configured key.
    pub fn from_key_file(path: &Path) -> Result<SecretBox, String> {
        if !path.exists() {
            let mut key = [0u8; 32];
            fill_random(&mut key);
            write_private(path, &B64.encode(key))
                .map_err(|e| format!("cannot create the secrets key {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created a secrets key for secret step outputs; keep it with the database");
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the secrets key {}: {e}", path.display()))?;
        SecretBox::from_base64(&Secret::new(text))
    }

    /// `{"$secret": "v1:<base64 nonce + ciphertext>"}`.
    pub fn seal(&self, plaintext: &str) -> Value {
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce);
        // Encryption fails only for inputs beyond 256 GiB; outputs are far below that.
        let sealed = match self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
        {
            Ok(mut ct) => {
                let mut bytes = nonce.to_vec();
                bytes.append(&mut ct);
                format!("v1:{}", B64.encode(bytes))
            }
            Err(_) => "erased".to_string(),
        };
        sealed_value(sealed)
    }

    /// The plaintext of a sealed value, or `None` if it is not one of ours (or was erased).
    pub fn open(&self, v: &Value) -> Option<String> {
        let text = sealed_text(v)?.strip_prefix("v1:")?;
        let bytes = B64.decode(text).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(plain).ok()
    }

    /// Seals every `{"$secret": <plaintext>}` an action returned, in place.
    pub fn seal_outputs(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(plain)) = single_secret(map) {
                    let plain = plain.clone();
                    *v = self.seal(&plain);
                    return;
                }
                map.values_mut().for_each(|x| self.seal_outputs(x));
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.seal_outputs(x)),
            _ => {}
        }
    }

    /// A copy of `v` with every sealed value opened, for the actions allowed to use secrets.
    pub fn reveal(&self, v: &Value) -> Value {
        match v {
            Value::Object(map) if is_sealed(v) => match self.open(v) {
                Some(plain) => Value::String(plain),
                None => Value::Object(map.clone()),
            },
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, x)| (k.clone(), self.reveal(x)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|x| self.reveal(x)).collect()),
            other => other.clone(),
        }
    }
}

/// An action's way to mark an output secret: the executor seals it before it is stored.
pub fn secret_output(plaintext: impl Into<String>) -> Value {
    sealed_value(plaintext.into())
}

fn sealed_value(text: String) -> Value {
    let mut m = Map::new();
    m.insert(SEALED_KEY.into(), Value::String(text));
    Value::Object(m)
}

fn single_secret(map: &Map<String, Value>) -> Option<&Value> {
    if map.len() == 1 {
        map.get(SEALED_KEY)
    } else {
        None
    }
}

fn sealed_text(v: &Value) -> Option<&str> {
    v.as_object()
        .and_then(single_secret)
        .and_then(Value::as_str)
}

/// Whether `v` is a (sealed or erased) secret.
pub fn is_sealed(v: &Value) -> bool {
    v.as_object().and_then(single_secret).is_some()
}

/// A copy of `v` with every secret replaced by the mask: what logs, the API and `runs show` see.
pub fn mask(v: &Value) -> Value {
    match v {
        Value::Object(_) if is_sealed(v) => Value::String(MASK.into()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, x)| (k.clone(), mask(x))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        other => other.clone(),
    }
}

/// Replaces every secret in `v` by an erased marker; `true` if anything changed. Done when a run
/// ends, so a finished run keeps no usable secret.
pub fn erase(v: &mut Value) -> bool {
    match v {
        Value::Object(_) if is_sealed(v) => {
            let changed = sealed_text(v) != Some("erased");
            *v = sealed_value("erased".into());
            changed
        }
        Value::Object(map) => map.values_mut().fold(false, |acc, x| erase(x) | acc),
        Value::Array(items) => items.iter_mut().fold(false, |acc, x| erase(x) | acc),
        _ => false,
    }
}

/// `erase` on stored JSON text: the new text when it held a live secret.
pub fn erase_text(json: &str) -> Option<String> {
    if !json.contains(SEALED_PREFIX) {
        return None;
    }
    let mut v: Value = serde_json::from_str(json).ok()?;
    erase(&mut v).then(|| v.to_string())
}

/// How a live sealed value starts in stored JSON (for a cheap `LIKE` pre-filter).
pub const SEALED_PREFIX: &str = "\"$secret\":\"v1:";

pub(crate) fn fill_random(buf: &mut [u8]) {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng.fill_bytes(buf);
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sbox() -> SecretBox {
        SecretBox::from_base64(&Secret::new(B64.encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), format!("Secret({MASK})"));
        let r = SecretRef::Value("hunter2".into());
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn outputs_are_sealed_opened_masked_and_erased() {
        let b = sbox();
        let mut out = json!({"id": "u1", "password": secret_output("Pa55!word")});
        b.seal_outputs(&mut out);
        let stored = out.to_string();
        assert!(!stored.contains("Pa55!word"), "{stored}");
        assert!(stored.contains("v1:"));
        assert_eq!(b.reveal(&out)["password"], json!("Pa55!word"));
        assert_eq!(mask(&out), json!({"id": "u1", "password": MASK}));
        assert!(erase(&mut out));
        assert_eq!(b.open(&out["password"]), None);
        assert!(!erase(&mut out), "erasing twice changes nothing");
    }

    #[test]
    fn a_wrong_key_opens_nothing() {
        let sealed = sbox().seal("x");
        let other = SecretBox::from_base64(&Secret::new(B64.encode([8u8; 32]))).unwrap();
        assert_eq!(other.open(&sealed), None);
        assert!(SecretBox::from_base64(&Secret::new("c2hvcnQ=")).is_err());
    }
}
