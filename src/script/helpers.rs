//! The identity-data helper functions scripts can call: transliteration and
//! name shaping (`ascii_fold`, `slug`, `email_local`, `title_case`), regular
//! expressions (`matches`, `regex_replace`), dates (`today`, `now`,
//! `parse_date`, `add_days`, `days_between`, `days_until`, `is_past`) and
//! JSON (`to_json`, `from_json`).
//!
//! All are pure and deterministic except the ones that read the clock.
//! Dates are ISO `YYYY-MM-DD` strings and timestamps RFC 3339 strings, the
//! forms they have in the JSON that scripts read. Every error names the
//! helper and the input that it could not use.
//!
//! This file also registers indexers on `()` that yield `()`, so that a path
//! through a missing value (`person.manager.email` without a manager) is
//! `()` in Rhai exactly as it is null on the fast path.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use regex::{Regex, RegexBuilder};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, INT};

use super::convert::{to_dynamic, to_value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// How many compiled patterns the regex cache keeps. Playbooks use a
/// handful; the bound only stops a script that builds patterns in a loop
/// from growing memory without end.
pub(super) const REGEX_CACHE_SIZE: usize = 256;
/// Compiled-size cap of one pattern, to keep pathological patterns cheap.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Registers every helper into the engine.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_indexer_get(|_: &mut (), _: ImmutableString| ());
    engine.register_indexer_get(|_: &mut (), _: INT| ());

    engine.register_fn("ascii_fold", |s: &str| ascii_fold(s));
    engine.register_fn("slug", |s: &str| slug(s));
    engine.register_fn("title_case", |s: &str| title_case(s));
    // Optional name parts are often missing; shaping nothing gives nothing.
    engine.register_fn("ascii_fold", |_: ()| String::new());
    engine.register_fn("slug", |_: ()| String::new());
    engine.register_fn("title_case", |_: ()| String::new());
    engine.register_fn("email_local", |given: &str, family: &str| {
        email_local(given, family)
    });
    // A missing name part (a bad HR row on its way to review) must not fail the run's vars.
    engine.register_fn("email_local", |given: &str, _: ()| email_local(given, ""));
    engine.register_fn("email_local", |_: (), family: &str| email_local("", family));
    engine.register_fn("email_local", |_: (), _: ()| String::new());

    engine.register_fn("matches", |s: &str, pattern: &str| -> Result<bool> {
        Ok(regex(pattern)?.is_match(s))
    });
    engine.register_fn(
        "regex_replace",
        |s: &str, pattern: &str, with: &str| -> Result<String> {
            Ok(regex(pattern)?.replace_all(s, with).into_owned())
        },
    );

    engine.register_fn("today", today);
    engine.register_fn("now", || {
        Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
    });
    engine.register_fn("parse_date", |s: &str| -> Result<String> {
        Ok(iso(date_arg("parse_date", s)?))
    });
    engine.register_fn("parse_date", parse_date_with);
    engine.register_fn("add_days", add_days);
    engine.register_fn("days_between", |a: &str, b: &str| -> Result<INT> {
        Ok((date_arg("days_between", b)? - date_arg("days_between", a)?).num_days())
    });
    engine.register_fn("days_until", |d: &str| -> Result<INT> {
        Ok((date_arg("days_until", d)? - Utc::now().date_naive()).num_days())
    });
    engine.register_fn("is_past", is_past);

    engine.register_fn("to_json", |x: Dynamic| -> Result<String> {
        to_value(x)
            .map(|v| v.to_string())
            .map_err(|e| format!("to_json: {e}").into())
    });
    engine.register_fn("from_json", |s: &str| -> Result<Dynamic> {
        serde_json::from_str(s)
            .map(|v| to_dynamic(&v))
            .map_err(|e| format!("from_json: invalid JSON {}: {e}", quote(s)).into())
    });
}

/// Transliterates to ASCII, keeping case: "José Müller" → "Jose Muller".
pub(crate) fn ascii_fold(s: &str) -> String {
    deunicode::deunicode(s)
}

/// One part of a corporate address: ASCII-folded, lower-cased, apostrophes
/// dropped, whitespace turned into '-', anything else outside [a-z0-9-]
/// dropped, and runs of '-' collapsed and trimmed.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in ascii_fold(s).chars() {
        let c = match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            c if c == '-' || c.is_whitespace() => '-',
            _ => continue,
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The local part of a corporate address: `given.family`, each a [`slug`];
/// an empty part is left out rather than leaving a stray dot.
pub(crate) fn email_local(given: &str, family: &str) -> String {
    [slug(given), slug(family)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// Capitalises the first letter of the string and each letter after a
/// space, hyphen or apostrophe, and lower-cases the rest.
pub(crate) fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        at_start = c.is_whitespace() || matches!(c, '-' | '\'' | '’');
    }
    out
}

/// A compiled pattern from the bounded cache.
fn regex(pattern: &str) -> Result<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    cached(CACHE.get_or_init(|| Mutex::new(HashMap::new())), pattern)
}

/// `pattern` compiled, from `cache` or into it (cleared when full).
pub(super) fn cached(cache: &Mutex<HashMap<String, Regex>>, pattern: &str) -> Result<Regex> {
    // A panic while the lock was held cannot leave the map inconsistent
    // (it only inserts whole entries), so a poisoned lock is still usable.
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression {}: {e}", quote(pattern)))?;
    if cache.len() >= REGEX_CACHE_SIZE {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn today() -> String {
    iso(Utc::now().date_naive())
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Quotes an input for an error message, shortened if long.
fn quote(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("'{}…'", s.chars().take(77).collect::<String>())
    } else {
        format!("'{s}'")
    }
}

/// Reads a date in any of the accepted forms: YYYY-MM-DD, RFC 3339 (its
/// date as written, in its own offset), DD.MM.YYYY and MM/DD/YYYY. The
/// separators tell the day-first and month-first forms apart.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.date_naive()))
        .or_else(|| NaiveDate::parse_from_str(s, "%d.%m.%Y").ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%m/%d/%Y").ok())
}

fn date_arg(helper: &str, s: &str) -> Result<NaiveDate> {
    parse_date(s).ok_or_else(|| {
        format!(
            "{helper}: cannot read {} as a date (expected YYYY-MM-DD, an RFC 3339 timestamp, DD.MM.YYYY or MM/DD/YYYY)",
            quote(s)
        )
        .into()
    })
}

/// `parse_date(s, format)` with a chrono strftime format; the format may
/// also describe a date and time, of which the date is kept.
fn parse_date_with(s: &str, format: &str) -> Result<String> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, format)
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, format)
                .ok()
                .map(|t| t.date())
        })
        .or_else(|| {
            DateTime::parse_from_str(s, format)
                .ok()
                .map(|t| t.date_naive())
        })
        .map(iso)
        .ok_or_else(|| {
            format!(
                "parse_date: {} does not match the format {}",
                quote(s),
                quote(format)
            )
            .into()
        })
}

fn add_days(date: &str, n: INT) -> Result<String> {
    let d = date_arg("add_days", date)?;
    TimeDelta::try_days(n)
        .and_then(|delta| d.checked_add_signed(delta))
        .map(iso)
        .ok_or_else(|| format!("add_days: {} plus {n} days is out of range", quote(date)).into())
}

/// True when a date is before today (UTC), or a timestamp before now.
fn is_past(date: &str) -> Result<bool> {
    if let Ok(t) = DateTime::parse_from_rfc3339(date.trim()) {
        return Ok(t < Utc::now());
    }
    Ok(date_arg("is_past", date)? < Utc::now().date_naive())
}
