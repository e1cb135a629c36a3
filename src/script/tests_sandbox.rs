//! Tests of the sandbox limits, of sharing the engine between threads, and
//! the micro-benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::tests::data;
use super::*;

#[test]
fn infinite_loop_hits_a_limit_quickly() {
    let s = Scripting::new();
    let b = s.block("let x = 0; loop { x += 1; }").unwrap();
    let started = Instant::now();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    match err {
        ScriptError::Limit(m) => {
            assert!(m.contains("operations") || m.contains("time limit"), "{m}")
        }
        other => panic!("expected a limit, got {other:?}"),
    }
    let err = s
        .run_block(&s.block("loop {}").unwrap(), &Context::empty())
        .unwrap_err();
    assert!(matches!(err, ScriptError::Limit(_)), "{err:?}");
}

#[test]
fn operation_limit_is_reported_as_such() {
    let s = Scripting::new();
    let b = s
        .block("let n = 0; for i in 0..2000000 { n += 1 } n")
        .unwrap();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("operations") || m.contains("time limit")),
        "{err:?}"
    );
}

#[test]
fn slow_script_hits_the_wall_clock_limit() {
    let s = Scripting::new();
    // Each iteration copies half a megabyte, so the operation limit would
    // take many seconds to reach; the 1 s clock stops it first.
    let b = s
        .block("let s = \"a\"; for i in 0..19 { s += s; } let n = 0; loop { n += s.to_upper().len(); }")
        .unwrap();
    let started = Instant::now();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("time limit of 1 s")),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

#[test]
fn closures_called_by_array_methods_count_against_the_limits() {
    // Rhai counts a closure's operations on a copy of its state when `map`
    // calls it; the sandbox must count them anyway.
    let s = Scripting::new();
    let e = s
        .expr("blob(100000).to_array().map(|x| blob(1000).to_array().map(|y| y + x).len()).len()")
        .unwrap();
    let started = Instant::now();
    let err = s.eval(&e, &Context::empty()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("operations") || m.contains("time limit")),
        "{err:?}"
    );
}

#[test]
fn runaway_recursion_hits_the_call_depth_limit() {
    let s = Scripting::new();
    let b = s.block("fn down(n) { down(n + 1) } down(0)").unwrap();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("call depth")),
        "{err:?}"
    );
}

#[test]
fn huge_strings_and_arrays_hit_size_limits() {
    let s = Scripting::new();
    let b = s
        .block("let s = \"0123456789abcdef\"; loop { s += s; }")
        .unwrap();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("size limit")),
        "{err:?}"
    );
    let b = s.block("let a = [1]; loop { a += a; }").unwrap();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert!(
        matches!(&err, ScriptError::Limit(m) if m.contains("size limit")),
        "{err:?}"
    );
}

#[test]
fn deeply_nested_expressions_are_rejected_at_load() {
    let s = Scripting::new();
    let src = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    let err = s.expr(&src).unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
}

#[test]
fn eval_is_disabled_and_print_is_harmless() {
    let s = Scripting::new();
    assert!(matches!(
        s.expr("eval(\"1\")"),
        Err(ScriptError::Syntax { .. })
    ));
    let b = s.block("print(\"hello\"); debug(1); 2").unwrap();
    assert_eq!(s.run_block(&b, &Context::empty()).unwrap(), json!(2));
}

#[test]
fn roots_cannot_be_modified_by_scripts() {
    let s = Scripting::new();
    let d = data();
    let err = s
        .run_block(&s.block("vars.n = 5; vars.n").unwrap(), &d.cx())
        .unwrap_err();
    assert!(matches!(err, ScriptError::Runtime(_)), "{err:?}");
    let b = s.block("let v = vars; v.n = 5; v.n").unwrap();
    assert_eq!(s.run_block(&b, &d.cx()).unwrap(), json!(5));
    assert_eq!(d.vars["n"], json!(2));
}

#[test]
fn one_engine_serves_many_threads() {
    let s = std::sync::Arc::new(Scripting::new());
    let e = s.expr("vars.n * 10").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (s, e) = (s.clone(), e.clone());
            std::thread::spawn(move || {
                let vars = json!({"n": i});
                let null = Value::Null;
                let cx = Context::new(&null, &null, &vars, &null, &null);
                s.eval(&e, &cx).unwrap()
            })
        })
        .collect();
    let got: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![json!(0), json!(10), json!(20), json!(30)]);
}

/// Prints evaluations per second; run with
/// `cargo test --release --lib script::tests_sandbox::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_evaluations_per_second() {
    let s = Scripting::new();
    let d = data();
    let cases = [
        (
            "fast path  steps.create.body.id",
            s.template("${{ steps.create.body.id }}").unwrap(),
        ),
        (
            "rhai       person.age > 18 && ...",
            s.template("${{ person.age > 18 && person.department == \"Sales\" }}")
                .unwrap(),
        ),
        (
            "template   2 parts",
            s.template("${{ vars.local_part }}@contoso.com (${{ person.age + 1 }})")
                .unwrap(),
        ),
        (
            "helper     email_local(...)",
            s.template("${{ email_local(person.given_name, person.family_name) }}")
                .unwrap(),
        ),
    ];
    for (name, t) in &cases {
        for fresh_context in [false, true] {
            let n = 200_000;
            let shared = d.cx();
            let started = Instant::now();
            for _ in 0..n {
                if fresh_context {
                    std::hint::black_box(s.render_string(t, &d.cx()).unwrap());
                } else {
                    std::hint::black_box(s.render_string(t, &shared).unwrap());
                }
            }
            let per_sec = n as f64 / started.elapsed().as_secs_f64();
            let how = if fresh_context {
                "new context each"
            } else {
                "shared context"
            };
            println!("{name:<40} {how:<18} {per_sec:>12.0} evals/s");
        }
    }
}
