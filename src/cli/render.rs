//! How runs and steps look in a terminal (and as JSON for scripts).

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::engine::status::{RunStatus, StepStatus};
use crate::store::{RunRow, StepRow, Store};

/// Prints one run with its steps; exit code 1 when it failed or was rejected.
pub(super) async fn show_run(store: &Store, run_id: &str, as_json: bool) -> anyhow::Result<i32> {
    let run = store.run(run_id).await?;
    let mut steps = store.steps_of(run_id).await?;
    // Secret outputs are sealed in the store; what a person or script sees is the mask.
    for s in &mut steps {
        s.outputs = crate::secret::mask(&s.outputs);
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "run": run, "steps": steps }))?
        );
    } else {
        print_run(&run, &steps);
    }
    Ok(match run.status {
        RunStatus::Failed | RunStatus::Rejected | RunStatus::Cancelled => 1,
        _ => 0,
    })
}

fn print_run(run: &RunRow, steps: &[StepRow]) {
    println!("run       {}", run.id);
    println!(
        "playbook  {} ({})",
        run.playbook,
        &run.playbook_hash[..12.min(run.playbook_hash.len())]
    );
    if let Some(s) = &run.subject {
        println!("person    {s}");
    }
    let trigger = run.event.get("type").and_then(Value::as_str).unwrap_or("?");
    println!("trigger   {trigger}");
    println!("status    {}{}", run.status, wake(run));
    if let Some(e) = &run.error {
        println!("error     {e}");
    }
    println!();
    println!(
        "  {:<3} {:<20} {:<10} {:>8} {:>9}  detail",
        "#", "step", "status", "attempts", "took"
    );
    for s in steps {
        let took = format!("{}ms", (s.finished_at - s.started_at).max(0));
        println!(
            "  {:<3} {:<20} {:<10} {:>8} {:>9}  {}",
            s.idx + 1,
            s.step_id,
            s.status,
            s.attempts,
            took,
            detail(s)
        );
    }
}

fn wake(run: &RunRow) -> String {
    match (run.status, run.wake_at) {
        (RunStatus::Waiting, Some(t)) => format!(" until {}", rfc3339(t)),
        (RunStatus::Approval, Some(t)) => format!(" (times out {})", rfc3339(t)),
        (RunStatus::Review, _) => " (roster approve/reject)".into(),
        _ => String::new(),
    }
}

/// One line about a step: its error, the review reasons, or a short view of its outputs.
fn detail(s: &StepRow) -> String {
    if let Some(e) = &s.error {
        return e.clone();
    }
    if s.status == StepStatus::Review {
        if let Some(errors) = s.outputs.get("errors").and_then(Value::as_array) {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            return parts.join("; ");
        }
    }
    let mut text = match s.outputs.get("status") {
        Some(status) if s.outputs.get("body").is_some() => format!("HTTP {status}"),
        _ => s.outputs.to_string(),
    };
    if text.chars().count() > 80 {
        text = format!("{}…", text.chars().take(79).collect::<String>());
    }
    text
}

pub(super) fn print_runs(runs: &[RunRow]) {
    println!(
        "{:<36}  {:<22} {:<10} {:<24} {:<20}",
        "run", "playbook", "status", "person", "updated"
    );
    for r in runs {
        println!(
            "{:<36}  {:<22} {:<10} {:<24} {:<20}",
            r.id,
            r.playbook,
            r.status,
            r.subject.as_deref().unwrap_or("-"),
            rfc3339(r.updated_at)
        );
    }
}
