//! Fresh identifiers: GUIDs for Entra objects, request ids and opaque tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub fn guid() -> String {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `n` random bytes, base64url: bearer tokens and channel resource ids.
pub fn opaque(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| fastrand::u8(..)).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A Google-style numeric id (21 digits).
pub fn numeric() -> String {
    let mut s = String::from("1");
    for _ in 0..20 {
        s.push(char::from(b'0' + fastrand::u8(0..10)));
    }
    s
}

/// Encodes a list offset as an opaque page token.
pub fn page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("sbx-page:{offset}"))
}

/// Reads a page token back; `None` if it was not made by `page_token`.
pub fn page_offset(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("sbx-page:")?
        .parse()
        .ok()
}
