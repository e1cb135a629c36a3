//! Tests of the identity-data helpers, called from scripts as playbooks do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration as Days, Utc};
use serde_json::{json, Value};

use super::tests::data;
use super::*;

fn eval(src: &str) -> Result<Value, ScriptError> {
    let s = Scripting::new();
    let d = data();
    s.eval(&s.expr(src)?, &d.cx())
}

fn ok(src: &str) -> Value {
    eval(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn runtime_error(src: &str) -> String {
    match eval(src) {
        Err(ScriptError::Runtime(m)) => m,
        other => panic!("{src}: expected a runtime error, got {other:?}"),
    }
}

fn iso(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[test]
fn ascii_fold_transliterates_and_keeps_case() {
    assert_eq!(ok(r#"ascii_fold("José Müller")"#), json!("Jose Muller"));
    assert_eq!(ok(r#"ascii_fold("Straße")"#), json!("Strasse"));
    assert_eq!(ok(r#"ascii_fold("Łukasz Øster")"#), json!("Lukasz Oster"));
    assert_eq!(ok("ascii_fold(person.middle_name)"), json!(""));
}

#[test]
fn email_local_builds_the_corporate_local_part() {
    assert_eq!(
        ok(r#"email_local("José", "Müller-Lüdenscheidt")"#),
        json!("jose.muller-ludenscheidt")
    );
    assert_eq!(ok(r#"email_local("José", "Müller")"#), json!("jose.muller"));
    assert_eq!(
        ok(r#"email_local("Seán", "O'Brien")"#),
        json!("sean.obrien")
    );
    assert_eq!(
        ok(r#"email_local("Mary  Ann", "van der  Berg")"#),
        json!("mary-ann.van-der-berg")
    );
    assert_eq!(
        ok(r#"email_local(" --Zoë!-- ", "D’Arcy -- Smith")"#),
        json!("zoe.darcy-smith")
    );
    assert_eq!(ok(r#"email_local("Cher", "")"#), json!("cher"));
    assert_eq!(
        ok("email_local(person.given_name, person.family_name)"),
        json!("jose.muller")
    );
}

#[test]
fn slug_applies_the_same_rules_to_one_part() {
    assert_eq!(
        ok(r#"slug("St. John-Smythe  Jr.")"#),
        json!("st-john-smythe-jr")
    );
    assert_eq!(ok(r#"slug("Straße 12")"#), json!("strasse-12"));
    assert_eq!(ok(r#"slug("!!!")"#), json!(""));
}

#[test]
fn title_case_capitalises_after_space_hyphen_and_apostrophe() {
    assert_eq!(
        ok(r#"title_case("jOHN o'neil-smith")"#),
        json!("John O'Neil-Smith")
    );
    assert_eq!(
        ok(r#"title_case("ÉLODIE  de la tour")"#),
        json!("Élodie  De La Tour")
    );
    assert_eq!(ok("title_case(person.nope)"), json!(""));
}

#[test]
fn matches_uses_cached_regexes_with_unicode_classes() {
    assert_eq!(ok(r#"matches("José", "^\\p{L}+$")"#), json!(true));
    assert_eq!(ok(r#"matches("José 2", "^\\p{L}+$")"#), json!(false));
    assert_eq!(
        ok(r#"matches(person.department, "(?i)^sales$")"#),
        json!(true)
    );
    // The same pattern again comes from the cache and behaves the same.
    assert_eq!(ok(r#"matches("Ana", "^\\p{L}+$")"#), json!(true));
    let m = runtime_error(r#"matches("x", "(unclosed")"#);
    assert!(m.contains("invalid regular expression '(unclosed'"), "{m}");
}

#[test]
fn regex_cache_stays_bounded() {
    // The cache itself, not through Rhai: 600 compilations would be timed by the 1 s limit.
    let cache = std::sync::Mutex::new(std::collections::HashMap::new());
    for i in 0..600 {
        let re = super::helpers::cached(&cache, &format!("^a{i}$")).unwrap();
        assert!(re.is_match(&format!("a{i}")) && !re.is_match(&format!("a{i}x")));
        let len = cache.lock().unwrap().len();
        assert!(
            (1..=super::helpers::REGEX_CACHE_SIZE).contains(&len),
            "{len} cached"
        );
    }
    // A hit returns the same pattern without growing the cache.
    let before = cache.lock().unwrap().len();
    super::helpers::cached(&cache, "^a599$").unwrap();
    assert_eq!(cache.lock().unwrap().len(), before);
    // Through Rhai, a handful of patterns still match.
    let s = Scripting::new();
    let b = s
        .block("let n = 0; for i in 0..5 { if matches(`a${i}`, `^a${i}$`) { n += 1 } } n")
        .unwrap();
    assert_eq!(s.run_block(&b, &Context::empty()).unwrap(), json!(5));
}

#[test]
fn regex_replace_replaces_all_with_groups() {
    assert_eq!(
        ok(r#"regex_replace("a1b22c333", "[0-9]+", "_")"#),
        json!("a_b_c_")
    );
    assert_eq!(
        ok(r#"regex_replace("Müller, José", "^(\\p{L}+), (\\p{L}+)$", "$2 $1")"#),
        json!("José Müller")
    );
    assert!(runtime_error(r#"regex_replace("x", "[", "")"#).contains("'['"));
}

#[test]
fn today_and_now_read_the_utc_clock() {
    let today = ok("today()");
    let expected = iso(Utc::now().date_naive());
    // Around midnight the clock may have moved on between the two reads.
    assert!(today == json!(expected) || today == json!(iso(Utc::now().date_naive())));
    let now = ok("now()");
    let parsed = chrono::DateTime::parse_from_rfc3339(now.as_str().unwrap()).unwrap();
    assert!(
        (Utc::now() - parsed.with_timezone(&Utc))
            .num_seconds()
            .abs()
            < 5
    );
    assert!(now.as_str().unwrap().ends_with('Z'));
}

#[test]
fn parse_date_accepts_the_usual_forms_and_rejects_others() {
    assert_eq!(ok(r#"parse_date("2024-03-09")"#), json!("2024-03-09"));
    assert_eq!(
        ok(r#"parse_date("2024-03-09T23:30:00-05:00")"#),
        json!("2024-03-09")
    );
    assert_eq!(ok(r#"parse_date("09.03.2024")"#), json!("2024-03-09"));
    assert_eq!(ok(r#"parse_date("03/09/2024")"#), json!("2024-03-09"));
    assert_eq!(ok(r#"parse_date(" 2024-03-09 ")"#), json!("2024-03-09"));
    let m = runtime_error(r#"parse_date("next tuesday")"#);
    assert!(
        m.starts_with("parse_date: cannot read 'next tuesday' as a date"),
        "{m}"
    );
    assert!(runtime_error(r#"parse_date("2024-02-30")"#).contains("'2024-02-30'"));
}

#[test]
fn parse_date_with_a_format() {
    assert_eq!(
        ok(r#"parse_date("9 March 2024", "%d %B %Y")"#),
        json!("2024-03-09")
    );
    assert_eq!(
        ok(r#"parse_date("2024/03/09 14:05", "%Y/%m/%d %H:%M")"#),
        json!("2024-03-09")
    );
    let m = runtime_error(r#"parse_date("2024-03-09", "%d.%m.%Y")"#);
    assert!(
        m.contains("'2024-03-09' does not match the format '%d.%m.%Y'"),
        "{m}"
    );
}

#[test]
fn date_arithmetic() {
    assert_eq!(ok(r#"add_days("2024-02-28", 2)"#), json!("2024-03-01"));
    assert_eq!(ok(r#"add_days("2024-03-01", -1)"#), json!("2024-02-29"));
    assert_eq!(ok(r#"add_days(event.at, 30)"#), json!("2024-05-31"));
    assert_eq!(ok(r#"days_between("2024-01-01", "2024-03-01")"#), json!(60));
    assert_eq!(
        ok(r#"days_between("2024-03-01", "2024-01-01")"#),
        json!(-60)
    );
    assert!(runtime_error(r#"add_days("soon", 1)"#).contains("add_days: cannot read 'soon'"));
    assert!(
        runtime_error(r#"add_days("2024-01-01", 9223372036854775807)"#).contains("out of range")
    );
    assert!(runtime_error(r#"days_between("2024-01-01", "x")"#).contains("'x'"));
}

#[test]
fn days_until_and_is_past_are_relative_to_today() {
    let today = Utc::now().date_naive();
    let in_ten = iso(today + Days::days(10));
    let ago = iso(today - Days::days(3));
    assert_eq!(ok(&format!("days_until(\"{in_ten}\")")), json!(10));
    assert_eq!(ok(&format!("days_until(\"{ago}\")")), json!(-3));
    assert_eq!(ok(&format!("is_past(\"{ago}\")")), json!(true));
    assert_eq!(ok(&format!("is_past(\"{in_ten}\")")), json!(false));
    assert_eq!(ok(&format!("is_past(\"{}\")", iso(today))), json!(false));
    let an_hour_ago = (Utc::now() - Days::hours(1)).to_rfc3339();
    assert_eq!(ok(&format!("is_past(\"{an_hour_ago}\")")), json!(true));
    assert!(runtime_error(r#"is_past("later")"#).contains("is_past: cannot read 'later'"));
}

#[test]
fn json_helpers_round_trip() {
    assert_eq!(ok("to_json(vars.groups)"), json!("[\"a\",\"b\"]"));
    assert_eq!(
        ok(r#"from_json("{\"a\": [1, 2.5, null]}")"#),
        json!({"a": [1, 2.5, null]})
    );
    assert_eq!(
        ok(r#"from_json(to_json(steps.create)).body.id"#),
        json!("u-1")
    );
    assert!(runtime_error(r#"from_json("{oops")"#).starts_with("from_json: invalid JSON '{oops'"));
}
