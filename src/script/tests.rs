//! Tests of compiling, evaluating and rendering, and the micro-benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::*;

pub(super) struct Data {
    pub(super) person: Value,
    pub(super) event: Value,
    pub(super) vars: Value,
    pub(super) steps: Value,
    pub(super) run: Value,
}

pub(super) fn data() -> Data {
    Data {
        person: json!({
            "given_name": "José", "family_name": "Müller", "department": "Sales",
            "age": 34, "active": true, "score": 1.5, "name": "José Müller",
            "groups": ["staff", "sales"]
        }),
        event: json!({"kind": "joiner", "at": "2024-05-01"}),
        vars: json!({"local_part": "jose.muller", "groups": ["a", "b"], "n": 2, "flag": false}),
        steps: json!({
            "create": {"status": 201, "body": {"id": "u-1", "tags": ["x", "y"]}},
            "lookup": {"body": {"found": true}}
        }),
        run: json!({"id": "r-1", "attempt": 1}),
    }
}

impl Data {
    pub(super) fn cx(&self) -> Context<'_> {
        Context::new(
            &self.person,
            &self.event,
            &self.vars,
            &self.steps,
            &self.run,
        )
    }
}

fn eval(src: &str) -> Result<Value, ScriptError> {
    let s = Scripting::new();
    let d = data();
    s.eval(&s.expr(src)?, &d.cx())
}

fn render(src: &str) -> Value {
    let s = Scripting::new();
    let d = data();
    s.render_string(&s.template(src).unwrap(), &d.cx()).unwrap()
}

fn syntax_position(e: ScriptError) -> (usize, usize) {
    match e {
        ScriptError::Syntax { line, column, .. } => (line, column),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn whole_expression_template_keeps_the_expression_type() {
    assert_eq!(render("${{ vars.groups }}"), json!(["a", "b"]));
    assert_eq!(render("  ${{ person.active }} "), json!(true));
    assert_eq!(render("${{ vars.n * 2 }}"), json!(4));
    assert_eq!(
        render("${{ #{ b: [1, 2.5], a: () } }}"),
        json!({"a": null, "b": [1, 2.5]})
    );
}

#[test]
fn interpolation_renders_numbers_bools_null_and_collections_as_text() {
    assert_eq!(
        render("${{ vars.local_part }}@contoso.com"),
        json!("jose.muller@contoso.com")
    );
    assert_eq!(
        render("n=${{ vars.n + 40 }} f=${{ person.score }} b=${{ vars.flag }} m=[${{ person.nope }}] g=${{ vars.groups }}"),
        json!("n=42 f=1.5 b=false m=[] g=[\"a\",\"b\"]")
    );
}

#[test]
fn literal_strings_and_constant_trees_do_not_need_rhai() {
    let s = Scripting::new();
    let t = s
        .template("just text, even with {{ braces }} and $")
        .unwrap();
    assert!(t.is_literal());
    assert!(t.step_refs().is_empty());
    assert_eq!(
        s.render_string(&t, &Context::empty()).unwrap(),
        json!("just text, even with {{ braces }} and $")
    );

    let tree = json!({"a": 1, "b": ["x", {"c": null}]});
    let vt = s.value_template(&tree).unwrap();
    assert!(vt.is_const());
    assert_eq!(vt.as_const(), Some(&tree));

    let mixed = json!({"keep": {"k": "v"}, "mail": "${{ vars.local_part }}@contoso.com", "n": 3});
    let vt = s.value_template(&mixed).unwrap();
    assert!(!vt.is_const());
    assert_eq!(vt.as_const(), None);
    let d = data();
    assert_eq!(
        s.render(&vt, &d.cx()).unwrap(),
        json!({"keep": {"k": "v"}, "mail": "jose.muller@contoso.com", "n": 3})
    );
}

#[test]
fn expression_syntax_errors_carry_line_and_column() {
    let s = Scripting::new();
    let err = s.expr("vars.n +\n  ) * 2").unwrap_err();
    assert_eq!(syntax_position(err.clone()), (2, 3), "{err}");
    assert!(err.to_string().ends_with("(line 2, column 3)"), "{err}");
    assert!(matches!(s.expr("   "), Err(ScriptError::Syntax { .. })));
}

#[test]
fn template_syntax_errors_are_positioned_within_the_whole_template() {
    let s = Scripting::new();
    // "Hi ${{ person.name }}, " is 23 characters; the second part's code
    // starts after "${{ ", at column 28.
    let err = s
        .template("Hi ${{ person.name }}, ${{ persn.x }}")
        .unwrap_err();
    assert_eq!(syntax_position(err), (1, 28));
    let err = s
        .template("line one\nsecond ${{ vars.n }} and ${{ vars.n ) }}")
        .unwrap_err();
    assert_eq!(syntax_position(err), (2, 37));
    // Characters, not bytes, count: "é" is one column.
    let err = s.template("é ${{ persn }}").unwrap_err();
    assert_eq!(syntax_position(err), (1, 7));
}

#[test]
fn unclosed_template_part_is_a_syntax_error_at_its_opening() {
    let s = Scripting::new();
    let err = s
        .template("ok ${{ vars.n }}\n  ${{ vars.n + 1")
        .unwrap_err();
    assert_eq!(syntax_position(err.clone()), (2, 3));
    assert!(err.to_string().contains("unclosed"), "{err}");
    assert!(matches!(
        s.template("${{}}"),
        Err(ScriptError::Syntax {
            line: 1,
            column: 4,
            ..
        })
    ));
}

#[test]
fn block_syntax_errors_carry_line_and_column() {
    let s = Scripting::new();
    let err = s.block("let x = 1;\nlet y = ;\nx").unwrap_err();
    assert_eq!(syntax_position(err), (2, 9));
}

#[test]
fn unknown_variables_are_rejected_at_load() {
    let s = Scripting::new();
    let err = s.expr("persn.department == \"Sales\"").unwrap_err();
    assert_eq!(syntax_position(err.clone()), (1, 1));
    assert!(
        err.to_string().contains("unknown variable 'persn'"),
        "{err}"
    );
    assert!(s.block("let a = vars.n; a + 1").is_ok());
    assert!(matches!(
        s.block("let a = 1;\nb + a"),
        Err(ScriptError::Syntax {
            line: 2,
            column: 1,
            ..
        })
    ));
    for name in BUILTIN_VARIABLES {
        assert!(s.expr(name).is_ok(), "{name}");
    }
    let custom = Scripting::with_variables(&["attempt"]);
    assert!(custom.expr("attempt + 1").is_ok());
    assert!(s.expr("attempt + 1").is_err());
}

#[test]
fn step_refs_are_found_with_positions_in_both_forms() {
    let s = Scripting::new();
    let e = s
        .expr("steps.create.body.id + steps[\"lookup\"].x + \"steps.fake\" + #{steps: 1}.steps")
        .unwrap();
    let refs: Vec<_> = e
        .step_refs()
        .into_iter()
        .map(|r| (r.id, r.line, r.column))
        .collect();
    assert_eq!(
        refs,
        vec![("create".into(), 1, 1), ("lookup".into(), 1, 24)]
    );

    let b = s.block("let a = 1;\n  steps?.later.x").unwrap();
    assert_eq!(
        b.step_refs(),
        vec![StepRef {
            id: "later".into(),
            line: 2,
            column: 3
        }]
    );

    let t = s
        .template("id: ${{ steps.create.body.id }}\n${{ steps[\"lookup\"] }}")
        .unwrap();
    let refs: Vec<_> = t
        .step_refs()
        .into_iter()
        .map(|r| (r.id, r.line, r.column))
        .collect();
    assert_eq!(refs, vec![("create".into(), 1, 9), ("lookup".into(), 2, 5)]);

    let vt = s
        .value_template(
            &json!({"user": "u", "groups": ["x", "${{ steps.create.body.tags }}"],
            "headers": {"Authorization": "Bearer ${{ steps.lookup.body.token }}"}}),
        )
        .unwrap();
    let refs: Vec<_> = vt
        .step_refs_with_paths()
        .into_iter()
        .map(|(p, r)| (p, r.id, r.column))
        .collect();
    assert_eq!(
        refs,
        vec![
            ("groups[1]".into(), "create".into(), 5),
            ("headers.Authorization".into(), "lookup".into(), 12),
        ]
    );
    assert_eq!(vt.step_refs().len(), 2);
}

#[test]
fn value_template_collects_every_error_with_its_json_path() {
    let s = Scripting::new();
    let errs = s
        .value_template(&json!({
            "headers": {"Authorization": "${{ persn }}", "ok": "${{ vars.n }}"},
            "groups": ["fine", "${{ 1 + }}"],
            "odd key": "${{ ) }}"
        }))
        .unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["headers.Authorization", "groups[1]", "[\"odd key\"]"]
    );
    assert!(
        errs[0]
            .to_string()
            .starts_with("headers.Authorization: unknown variable"),
        "{}",
        errs[0]
    );
}

#[test]
fn render_errors_name_the_json_path() {
    let s = Scripting::new();
    let vt = s
        .value_template(&json!({"a": {"b": ["x", "${{ vars.n.len() }}"]}}))
        .unwrap();
    let err = s.render(&vt, &data().cx()).unwrap_err();
    assert!(err.to_string().starts_with("a.b[1]: "), "{err}");
}

#[test]
fn fast_path_and_rhai_path_agree() {
    let s = Scripting::new();
    let d = data();
    let paths = [
        "steps.create.body.id",
        "steps[\"create\"].body.tags",
        "steps.create.body.tags[1]",
        "person.department",
        "person",
        "vars.local_part",
        "person.manager.email",
        "person.manager[0].x",
        "steps.missing.body.id",
        "error.message",
    ];
    for src in paths {
        let fast = s.expr(src).unwrap();
        let slow = s.expr(&format!("({src})")).unwrap();
        assert!(fast.is_plain_path(), "{src}");
        assert!(!slow.is_plain_path(), "{src}");
        assert_eq!(
            s.eval(&fast, &d.cx()).unwrap(),
            s.eval(&slow, &d.cx()).unwrap(),
            "{src}"
        );
    }
    // Where Rhai has an opinion (out of bounds, property of a string) the
    // fast path defers to it instead of inventing a null.
    for src in ["vars.groups[7]", "person.name.first"] {
        let fast = s.eval(&s.expr(src).unwrap(), &d.cx()).unwrap_err();
        let slow = s
            .eval(&s.expr(&format!("({src})")).unwrap(), &d.cx())
            .unwrap_err();
        assert_eq!(
            fast.to_string().split(" (line").next(),
            slow.to_string().split(" (line").next()
        );
    }
    assert_eq!(eval("steps.create.body.id").unwrap(), json!("u-1"));
    assert_eq!(eval("person.manager.email").unwrap(), Value::Null);
}

#[test]
fn extra_roots_come_from_the_context_and_default_to_null() {
    let s = Scripting::new();
    let d = data();
    let error = json!({"message": "boom", "status": 503});
    let extra = [("error", &error)];
    let cx = d.cx().with_extra(&extra);
    assert_eq!(
        s.eval(&s.expr("error.message").unwrap(), &cx).unwrap(),
        json!("boom")
    );
    assert_eq!(
        s.eval(&s.expr("error.status >= 500").unwrap(), &cx)
            .unwrap(),
        json!(true)
    );
    assert_eq!(s.eval(&s.expr("item").unwrap(), &cx).unwrap(), Value::Null);
    assert_eq!(
        s.eval(&s.expr("item == ()").unwrap(), &cx).unwrap(),
        json!(true)
    );
}

#[test]
fn context_never_serves_a_stale_conversion() {
    let s = Scripting::new();
    let d = data();
    let e = s.expr("vars.n + 1").unwrap();
    let mut cx = d.cx();
    assert_eq!(s.eval(&e, &cx).unwrap(), json!(3));
    assert_eq!(s.eval(&e, &cx).unwrap(), json!(3));
    let other = json!({"n": 10});
    cx.vars = &other;
    assert_eq!(s.eval(&e, &cx).unwrap(), json!(11));
}

#[test]
fn eval_bool_accepts_bools_and_unit_and_names_other_types() {
    let s = Scripting::new();
    let d = data();
    let cx = d.cx();
    let check = |src: &str| s.eval_bool(&s.expr(src).unwrap(), &cx);
    assert!(check("person.active").unwrap());
    assert!(!check("vars.flag").unwrap());
    assert!(!check("person.nope").unwrap());
    assert!(!check("(person.nope)").unwrap());
    assert!(check("person.age > 18 && person.department == \"Sales\"").unwrap());
    let err = check("person.department").unwrap_err();
    assert!(err.to_string().contains("a string \"Sales\""), "{err}");
    let err = check("vars.n + 1").unwrap_err();
    assert!(err.to_string().contains("an integer 3"), "{err}");
    assert!(matches!(check("vars.groups"), Err(ScriptError::Runtime(m)) if m.contains("an array")));
}

#[test]
fn run_block_returns_its_last_value_as_json() {
    let s = Scripting::new();
    let d = data();
    let b = s
        .block(
            "let local = email_local(person.given_name, person.family_name);\n\
             #{ mail: `${local}@contoso.com`, groups: person.groups + [\"all\"], n: vars.n }",
        )
        .unwrap();
    assert_eq!(
        s.run_block(&b, &d.cx()).unwrap(),
        json!({"groups": ["staff", "sales", "all"], "mail": "jose.muller@contoso.com", "n": 2})
    );
    assert_eq!(
        s.run_block(&s.block("").unwrap(), &d.cx()).unwrap(),
        Value::Null
    );
}

#[test]
fn runtime_errors_are_positioned_within_the_template() {
    let s = Scripting::new();
    let t = s.template("ab\ncd ${{ parse_date(\"nope\") }}").unwrap();
    let err = s.render_string(&t, &Context::empty()).unwrap_err();
    let ScriptError::Runtime(m) = err else {
        panic!("expected a runtime error")
    };
    assert!(
        m.starts_with("parse_date: cannot read 'nope' as a date"),
        "{m}"
    );
    assert!(m.ends_with("(line 2, column 8)"), "{m}");
    let b = s.block("let a = 1;\n  throw \"nope\"").unwrap();
    let err = s.run_block(&b, &Context::empty()).unwrap_err();
    assert_eq!(err, ScriptError::Runtime("nope (line 2, column 3)".into()));
    let err = eval("vars.n.foo()").unwrap_err();
    assert!(
        matches!(&err, ScriptError::Runtime(m) if m.contains("foo")),
        "{err:?}"
    );
}

#[test]
fn closures_can_read_roots() {
    let s = Scripting::new();
    let d = data();
    let e = s
        .expr("person.groups.filter(|g| g != vars.groups[0] && g.len() > 4).map(|g| g.to_upper())")
        .unwrap();
    assert_eq!(s.eval(&e, &d.cx()).unwrap(), json!(["STAFF", "SALES"]));
    let b = s
        .block(
            "let out = [];\nfor g in vars.groups { out.push(`${g}-${person.department}`); }\nout",
        )
        .unwrap();
    assert_eq!(
        s.run_block(&b, &d.cx()).unwrap(),
        json!(["a-Sales", "b-Sales"])
    );
}

#[test]
fn variables_lists_the_roots_read() {
    let s = Scripting::new();
    assert_eq!(
        s.expr("error.message + vars.x + error.code")
            .unwrap()
            .variables(),
        vec!["error", "vars"]
    );
    assert_eq!(
        s.block("let item2 = 1; item2").unwrap().variables(),
        Vec::<&str>::new()
    );
    let t = s
        .template("${{ vars.a }}-${{ person.b }}-${{ vars.c }}")
        .unwrap();
    assert_eq!(t.variables(), vec!["vars", "person"]);
}

#[test]
fn compiled_items_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    fn check_engine<T: Send + Sync>() {}
    check::<Expr>();
    check::<Template>();
    check::<ValueTemplate>();
    check::<ScriptBlock>();
    check_engine::<Scripting>();
    let s = Scripting::new();
    assert_eq!(s.expr(" vars.n ").unwrap().source(), " vars.n ");
    assert_eq!(s.template("a${{1}}").unwrap().source(), "a${{1}}");
    assert_eq!(s.block("1").unwrap().source(), "1");
}
