//! `roster check`: every load-time error names the file, the line and the column it is about.
//!
//! Each fixture in `tests/fixtures/check/` holds one mistake (or, for `several_errors`, many);
//! its `.expected` file is the exact output of `roster check` (regenerate with
//! `ROSTER_BLESS=1 cargo test --test it playbooks`). The tests below pin the position and the
//! gist of each message, which is what a person reading the output acts on.

use serde_json::Value;

use crate::support_checks::{check_fixture, roster};

#[test]
fn an_unclosed_quote_is_reported_where_it_opens() {
    // The parser only notices at the end of the file; the mistake is on line 6.
    check_fixture("yaml_syntax").assert_only(6, 22, "this quoted string is never closed");
}

#[test]
fn an_unknown_top_level_key_is_reported_at_the_key_with_a_suggestion() {
    check_fixture("unknown_top_key").assert_only(
        3,
        1,
        "unknown key 'stepz' (did you mean 'steps'?); expected one of: name, description, on",
    );
}

#[test]
fn an_unknown_step_key_is_reported_at_the_key_with_a_suggestion() {
    check_fixture("unknown_step_key").assert_only(
        5,
        5,
        "steps[0]: unknown key 'usess' (did you mean 'uses'?)",
    );
}

#[test]
fn an_unknown_action_suggests_the_nearest_name() {
    check_fixture("unknown_action").assert_only(
        5,
        11,
        "step 'call': unknown action 'http.reqest' (did you mean 'http.request'?); available: validate",
    );
}

#[test]
fn a_missing_required_argument_is_reported_at_with() {
    check_fixture("missing_argument").assert_only(
        6,
        5,
        "step 'call' (http.request): missing required argument 'url'",
    );
}

#[test]
fn headers_given_as_a_list_is_a_type_error_at_the_value() {
    check_fixture("headers_list").assert_only(
        8,
        16,
        "step 'call' (http.request): argument 'headers' must be a map, not a list",
    );
}

#[test]
fn a_wait_duration_given_as_a_map_is_one_type_error() {
    check_fixture("duration_map").assert_only(
        7,
        17,
        "step 'pause' (wait): argument 'duration' must be a duration like 30s, 5m or 2d, not a map",
    );
}

#[test]
fn an_unknown_argument_is_reported_at_its_key_with_what_the_action_takes() {
    check_fixture("unknown_argument").assert_only(
        8,
        7,
        "unknown argument 'bodyy' (did you mean 'body'?); it takes: body, expect, headers, json, method, query, url",
    );
}

#[test]
fn a_rhai_syntax_error_in_where_points_into_the_expression() {
    check_fixture("rhai_where").assert_only(3, 29, "`where:`: Rhai syntax error: Unexpected '=='");
}

#[test]
fn a_rhai_syntax_error_in_if_points_into_the_quoted_expression() {
    check_fixture("rhai_if").assert_only(
        6,
        39,
        "step 'a': `if:`: Rhai syntax error: Unexpected ')'",
    );
}

#[test]
fn a_rhai_syntax_error_in_a_var_names_the_var() {
    check_fixture("rhai_var").assert_only(5, 31, "var 'broken': Rhai syntax error: Unexpected '*'");
}

#[test]
fn a_rhai_syntax_error_in_a_template_points_into_the_template_expression() {
    check_fixture("rhai_template").assert_only(
        7,
        55,
        "step 'call' (http.request): argument 'url': Rhai syntax error: Unexpected '=='",
    );
}

#[test]
fn a_rhai_syntax_error_in_the_second_template_of_a_nested_plain_string_is_located() {
    check_fixture("rhai_template_nested").assert_only(
        11,
        66,
        "argument 'json': Rhai syntax error: Unexpected '*'",
    );
}

#[test]
fn an_incomplete_template_expression_says_what_is_missing_where_it_ends() {
    check_fixture("rhai_template_incomplete").assert_only(
        7,
        54,
        "the expression ends too early (an operand, a closing bracket or a closing quote is missing)",
    );
}

#[test]
fn a_rhai_syntax_error_in_a_literal_script_block_is_on_its_own_line() {
    check_fixture("rhai_script").assert_only(
        9,
        20,
        "step 'compute' (script): argument 'code': Rhai syntax error: Unexpected '*'",
    );
}

#[test]
fn a_reference_to_an_unknown_step_suggests_the_nearest_id() {
    check_fixture("unknown_step_ref").assert_only(
        11,
        25,
        "step 'second' (fail): argument 'message' refers to step 'frist', which does not exist (did you mean 'first'?)",
    );
}

#[test]
fn a_reference_to_a_later_step_is_an_error() {
    check_fixture("later_step_ref").assert_only(
        6,
        9,
        "step 'first': `if:` refers to step 'second', which comes later",
    );
}

#[test]
fn a_duplicate_step_id_points_at_the_first_definition() {
    check_fixture("duplicate_ids").assert_only(
        7,
        9,
        "duplicate step id 'same': line 4 already defines a step with this id",
    );
}

#[test]
fn zero_retry_attempts_are_rejected() {
    check_fixture("retry_attempts_zero").assert_only(
        7,
        24,
        "step 'call': retry attempts must be at least 1",
    );
}

#[test]
fn an_unknown_backoff_suggests_the_nearest_one() {
    check_fixture("retry_backoff").assert_only(
        9,
        16,
        "step 'call': backoff 'exponentail' (did you mean 'exponential'?) is not one of exponential, linear, fixed",
    );
}

#[test]
fn an_invalid_duration_says_how_to_write_one() {
    check_fixture("invalid_duration").assert_only(
        7,
        14,
        "step 'call': timeout '5 parsecs' is not a duration; write it like 30s, 5m, 2h or 30d",
    );
}

#[test]
fn an_unknown_trigger_suggests_the_nearest_one() {
    check_fixture("unknown_trigger").assert_only(
        4,
        5,
        "unknown trigger 'person.joinde' (did you mean 'person.joined'?)",
    );
}

#[test]
fn an_invalid_validate_pattern_is_reported_at_the_pattern_in_one_line() {
    let checked = check_fixture("validate_regex");
    checked.assert_only(
        9,
        42,
        "step 'check' (validate): rule 2: '[\\p{L}' is not a valid regular expression: unclosed character class",
    );
    assert!(!checked.diags[0].message.contains('\n'));
}

#[test]
fn an_unknown_variable_is_named_with_a_suggestion() {
    check_fixture("unknown_variable").assert_only(
        6,
        9,
        "step 'a': `if:`: unknown variable 'persn' (did you mean 'person'?); expressions see person, event",
    );
}

#[test]
fn several_errors_are_all_reported_in_line_order() {
    let checked = check_fixture("several_errors");
    let positions: Vec<(usize, usize)> = checked.diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        positions,
        vec![(6, 5), (8, 11), (9, 9), (11, 23), (12, 14)],
        "{:#?}",
        checked.diags
    );
    checked.assert_at(
        0,
        6,
        5,
        "step 'b' (http.request): missing required argument 'url'",
    );
    checked.assert_at(1, 8, 11, "step 'c': unknown action 'nope'");
    checked.assert_at(2, 9, 9, "duplicate step id 'b': line 4 already defines");
    checked.assert_at(3, 11, 23, "argument 'duration': 'soon' is not a duration");
    checked.assert_at(4, 12, 14, "timeout 'never' is not a duration");
}

#[test]
fn every_fixture_in_a_directory_is_reported_and_none_passes() {
    let out = roster(&["check", "check"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let fixtures = std::fs::read_dir(crate::support_checks::fixtures().join("check"))
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect::<Vec<_>>();
    assert!(fixtures.len() >= 25, "{fixtures:?}");
    for name in fixtures {
        let prefix = format!("check/{name}:");
        assert!(
            out.stderr.lines().any(|l| l.starts_with(&prefix)),
            "no diagnostic for {name} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_directory_of_valid_playbooks_checks_clean() {
    let out = roster(&["check", "check/valid"]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(
        out.stdout
            .contains("ok  valid-onboard  (check/valid/onboard.yaml, 1 steps)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 playbook(s) checked, no errors"));
}

#[test]
fn json_output_lists_every_error_with_file_line_column_and_message() {
    let out = roster(&["--json", "check", "check/several_errors.yaml"]);
    assert_eq!(out.code, 1);
    let doc: Value = serde_json::from_str(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["ok"], false);
    let errors = doc["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 5);
    let first = errors[0].as_object().expect("an error is an object");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["column", "file", "line", "message"]);
    assert_eq!(first["file"], "check/several_errors.yaml");
    assert_eq!(first["line"], 6);
    assert_eq!(first["column"], 5);
    assert!(first["message"]
        .as_str()
        .is_some_and(|m| m.contains("missing required argument 'url'")));
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, [6, 8, 9, 11, 12]);
}

#[test]
fn json_output_for_valid_playbooks_names_each_one() {
    let out = roster(&["check", "--json", "check/valid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(
        doc,
        serde_json::json!({
            "ok": true,
            "playbooks": [{ "name": "valid-onboard", "path": "check/valid/onboard.yaml", "steps": 1 }]
        })
    );
}
