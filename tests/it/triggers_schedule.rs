//! Schedules: each tick fires exactly once, across restarts and concurrent schedulers; ticks
//! missed while down fire once; bad cron expressions and zones are load-time errors.

use std::time::Duration;

use roster::triggers::schedule::Scheduler;
use tokio::sync::watch;

use crate::support::eventually;
use crate::support_triggers::{engine, Env};

const EVERY_SECOND: &str = r#"
name: heartbeat
on:
  - schedule: { cron: "* * * * * *", timezone: Europe/Berlin }
steps:
  - id: beat
    uses: script
    with: { code: '#{ tick: event.tick, who: person.id }' }
"#;

/// A whole second, a little in the past.
fn base() -> i64 {
    (roster::clock::now_ms() / 1000 - 100) * 1000
}

#[tokio::test]
async fn a_tick_fires_once_across_a_restart_and_missed_ticks_fire_once() {
    let env = Env::new(&[EVERY_SECOND], "").await;
    let t0 = base();
    let first = Scheduler::new(env.engine.clone(), &env.playbooks, t0);
    let fired = first.fire_due(t0 + 1_500).await.expect("fire");
    assert_eq!(
        fired.iter().map(|f| f.tick_at).collect::<Vec<_>>(),
        [t0 + 1_000]
    );
    assert!(
        first.fire_due(t0 + 1_900).await.expect("fire").is_empty(),
        "the same tick again"
    );
    assert_eq!(first.fire_due(t0 + 2_100).await.expect("fire").len(), 1);

    // "Restart": a new engine and scheduler on the same database, 8 ticks later.
    drop(first);
    let (engine2, playbooks2) = engine(&env.url, &env.config, &[EVERY_SECOND]).await;
    let second = Scheduler::new(engine2.clone(), &playbooks2, t0 + 10_200);
    let fired = second.fire_due(t0 + 10_500).await.expect("fire");
    assert_eq!(
        fired.iter().map(|f| f.tick_at).collect::<Vec<_>>(),
        [t0 + 10_000],
        "the missed ticks t0+3s … t0+10s fire once, as the latest"
    );
    assert!(second.fire_due(t0 + 10_900).await.expect("fire").is_empty());

    // Two schedulers at once (two processes): each tick fires exactly once.
    let other = Scheduler::new(env.engine.clone(), &env.playbooks, t0);
    let (a, b) = tokio::join!(second.fire_due(t0 + 11_300), other.fire_due(t0 + 11_300));
    assert_eq!(a.expect("a").len() + b.expect("b").len(), 1);

    let ticks = env.events("schedule.tick").await;
    assert_eq!(ticks.len(), 4, "{ticks:#?}");
    let runs = env.runs().await;
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|(pb, _)| pb == "heartbeat"));
    assert_eq!(runs[2].1["type"], "schedule.tick");
    assert_eq!(runs[2].1["schedule"]["timezone"], "Europe/Berlin");
    let tick = roster::clock::parse_instant(runs[2].1["tick"].as_str().unwrap_or_default());
    assert_eq!(tick, Some(t0 + 10_000), "the event carries the tick time");
}

#[tokio::test]
async fn the_scheduler_task_fires_on_time_and_stops_on_shutdown() {
    let env = Env::new(&[EVERY_SECOND], "").await;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(roster::triggers::schedule::run(
        env.engine.clone(),
        env.playbooks.clone(),
        stopped,
    ));
    let ticks = eventually(Duration::from_secs(5), "two ticks", || async {
        let t = env.events("schedule.tick").await;
        (t.len() >= 2).then_some(t)
    })
    .await;
    let at = |i: usize| roster::clock::parse_instant(ticks[i]["tick"].as_str().unwrap_or_default());
    let (a, b) = (at(0).unwrap_or(0), at(1).unwrap_or(0));
    assert_eq!(b - a, 1_000, "consecutive whole seconds");
    assert_eq!(a % 1_000, 0);
    stop.send(true).expect("signal shutdown");
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the task stops on shutdown")
        .expect("join")
        .expect("no error");

    // The run executes with an empty person.
    let worker = roster::engine::Worker::new(env.engine.clone(), Default::default());
    let (stop, stopped) = watch::channel(false);
    let w = tokio::spawn(worker.run(stopped));
    let run_id: String =
        crate::support::on_db!(&crate::support::Db::of(env.engine.store()), |pool| {
            sqlx::query_scalar("SELECT id FROM runs ORDER BY seq LIMIT 1")
                .fetch_one(pool)
                .await
                .expect("a run")
        });
    let row = eventually(
        Duration::from_secs(5),
        "the tick's run to finish",
        || async {
            let r = env.engine.store().run(&run_id).await.ok()?;
            (r.status.as_str() == "succeeded").then_some(r)
        },
    )
    .await;
    let _ = stop.send(true);
    let _ = w.await;
    assert_eq!(row.event["type"], "schedule.tick");
}

#[test]
fn bad_cron_expressions_and_time_zones_are_load_errors_with_their_line() {
    let scripting = roster::script::Scripting::new();
    let text = "name: x\non:\n  - schedule: { cron: \"0 7 * *\" }\n  - schedule: { cron: \"0 7 * * 1-5\", timezone: Europe/Berlinn }\nsteps:\n  - { id: a, uses: script, with: { code: '#{}' } }\n";
    let err = roster::playbook::load_text("p.yaml", text, &scripting)
        .expect_err("does not load")
        .to_string();
    assert!(
        err.contains("p.yaml:3:") && err.contains("4 fields"),
        "{err}"
    );
    assert!(err.contains("p.yaml:4:") && err.contains("IANA"), "{err}");
}
