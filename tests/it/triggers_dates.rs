//! `person.date` triggers: a timer armed by an observation fires at `start_date - 3d`, moves
//! when the date changes, is dropped when the person leaves, and a long-past date is skipped.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use roster::clock::now_ms;
use roster::triggers::dates;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::support::eventually;
use crate::support_triggers::Env;

const PRE_HIRE: &str = r#"
name: pre-hire
on:
  - person.date: { field: start_date, offset: -3d }
steps:
  - id: prepare
    uses: script
    with: { code: '#{ who: person.id, date: event.date }' }
"#;

const DAY: i64 = 86_400_000;

fn person(id: &str, start: &str, status: &str) -> Value {
    json!({"id": id, "given_name": "Nestor", "family_name": "Wilke", "start_date": start, "status": status})
}

fn instant(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn day(ms: i64) -> String {
    instant(ms)[..10].to_string()
}

#[tokio::test]
async fn a_timer_fires_three_days_before_the_start_date() {
    let env = Env::new(&[PRE_HIRE], "").await;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(dates::run(
        env.engine.clone(),
        env.playbooks.clone(),
        stopped,
    ));
    // Due in about a second: start = now + 3 days + 1 s; and one far in the future.
    let start = now_ms() + 3 * DAY + 1_000;
    env.engine
        .observe(
            &env.playbooks,
            "hr",
            person("E1", &instant(start), "active"),
        )
        .await
        .expect("observe");
    env.engine
        .observe(
            &env.playbooks,
            "hr",
            person("E2", &day(now_ms() + 60 * DAY), "active"),
        )
        .await
        .expect("observe");
    let timers = env
        .engine
        .store()
        .date_timers("hr", "E1")
        .await
        .expect("timers");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].due_at, start - 3 * DAY);

    let fired = eventually(Duration::from_secs(5), "the person.date event", || async {
        let e = env.events("person.date").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert!(now_ms() >= start - 3 * DAY, "not before it is due");
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["subject"], "E1");
    assert_eq!(fired[0]["field"], "start_date");
    let runs = env.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "pre-hire");
    let timers = env
        .engine
        .store()
        .date_timers("hr", "E1")
        .await
        .expect("timers");
    assert!(timers[0].fired_at.is_some());
    stop.send(true).expect("shutdown");
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("stops")
        .expect("join")
        .expect("ok");
    // Still one: E2 is not due, and E1 fired once.
    assert_eq!(env.events("person.date").await.len(), 1);
}

#[tokio::test]
async fn a_changed_date_moves_the_timer_and_leaving_drops_it() {
    let env = Env::new(&[PRE_HIRE], "").await;
    let now = now_ms();
    let observe = |p: Value| {
        let env = &env;
        async move {
            env.engine
                .observe(&env.playbooks, "hr", p)
                .await
                .expect("observe")
        }
    };
    let far = day(now + 30 * DAY);
    observe(person("E1", &far, "active")).await;
    let due_far = env.engine.store().date_timers("hr", "E1").await.expect("t")[0].due_at;
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now)
            .await
            .expect("fire"),
        0
    );

    // The start moves to 10 days from now: the timer moves to 7 days from now.
    let near = day(now + 10 * DAY);
    observe(person("E1", &near, "active")).await;
    let t = env.engine.store().date_timers("hr", "E1").await.expect("t");
    assert_eq!(t[0].date, near);
    assert!(t[0].due_at < due_far && t[0].fired_at.is_none());
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now + 6 * DAY)
            .await
            .expect("fire"),
        0
    );
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now + 8 * DAY)
            .await
            .expect("fire"),
        1
    );
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now + 9 * DAY)
            .await
            .expect("fire"),
        0,
        "once"
    );
    let fired = env.events("person.date").await;
    assert_eq!(fired[0]["date"], near);

    // Another person leaves before their timer is due: it is dropped and never fires.
    observe(person("E2", &far, "active")).await;
    assert_eq!(
        env.engine
            .store()
            .date_timers("hr", "E2")
            .await
            .expect("t")
            .len(),
        1
    );
    observe(person("E2", &far, "terminated")).await;
    assert!(env
        .engine
        .store()
        .date_timers("hr", "E2")
        .await
        .expect("t")
        .is_empty());
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now + 365 * DAY)
            .await
            .expect("fire"),
        0
    );
    assert_eq!(env.events("person.date").await.len(), 1);
}

#[tokio::test]
async fn a_start_date_long_past_is_skipped_not_fired() {
    let env = Env::new(&[PRE_HIRE], "").await;
    env.engine
        .observe(&env.playbooks, "csv", person("E9", "2019-09-16", "active"))
        .await
        .expect("observe");
    let t = env
        .engine
        .store()
        .date_timers("csv", "E9")
        .await
        .expect("t");
    assert!(t[0].fired_at.is_some(), "recorded as skipped");
    assert_eq!(
        dates::fire_due(&env.engine, &env.playbooks, now_ms())
            .await
            .expect("fire"),
        0
    );
    assert!(env.events("person.date").await.is_empty());
}
