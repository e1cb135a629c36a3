//! The figures collected, as a readable table and as JSON (medians and ranges over repetitions).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::child::Measurement;
use crate::servers::LoadResult;
use crate::sqlite::CommitRates;

/// One (latency, N, concurrency) point and its repetitions.
pub struct Configuration {
    pub latency_ms: u64,
    pub runs: usize,
    pub concurrency: usize,
    pub roster: Vec<Measurement>,
    pub onboard_load: Vec<LoadResult>,
}

impl Configuration {
    pub fn new(latency_ms: u64, runs: usize, concurrency: usize) -> Configuration {
        Configuration {
            latency_ms,
            runs,
            concurrency,
            roster: Vec::new(),
            onboard_load: Vec::new(),
        }
    }
}

pub struct Report {
    /// CPUs, memory in KiB, CPU model.
    machine: (usize, u64, String),
    reps: usize,
    /// 1-minute load averages sampled before every measurement (the machine may be shared).
    pub load: Vec<f64>,
    pub sqlite: Vec<CommitRates>,
    pub configurations: Vec<Configuration>,
}

/// Median, minimum and maximum of some repetitions.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    fn show(&self, decimals: usize) -> String {
        if self.min == self.max {
            return number(self.median, decimals);
        }
        format!(
            "{} ({}–{})",
            number(self.median, decimals),
            number(self.min, decimals),
            number(self.max, decimals)
        )
    }

    fn json(&self) -> Value {
        json!({ "median": self.median, "min": self.min, "max": self.max })
    }
}

/// `12345.6` → `12,346`; with decimals, `1.234`.
fn number(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{x:.decimals$}");
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), format!(".{f}")),
        None => (s.clone(), String::new()),
    };
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int.as_str()),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{frac}")
}

impl Report {
    pub fn new(machine: (usize, u64, String), reps: usize) -> Report {
        Report {
            machine,
            reps,
            load: Vec::new(),
            sqlite: Vec::new(),
            configurations: Vec::new(),
        }
    }

    fn single_commits(&self) -> Spread {
        Spread::of(self.sqlite.iter().map(|s| s.single_commits_per_s))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let (cpus, mem_kib, model) = &self.machine;
        let _ = writeln!(
            out,
            "\nRoster onboarding benchmark — {cpus} CPUs ({model}), {:.1} GiB; \
             median (min–max) of {} repetitions\n",
            *mem_kib as f64 / 1024.0 / 1024.0,
            self.reps
        );
        let load = Spread::of(self.load.iter().copied());
        let _ = writeln!(
            out,
            "1-minute load average before the measurements: {} (everything on the machine)\n",
            load.show(1)
        );
        let single = self.single_commits();
        let batch = Spread::of(self.sqlite.iter().map(|s| s.batch100_rows_per_s));
        let _ = writeln!(
            out,
            "SQLite (WAL, synchronous=FULL, one connection, same disk): \
             {} single-row commits/s; {} rows/s at 100 rows per transaction\n",
            single.show(0),
            batch.show(0)
        );
        for c in &self.configurations {
            let r_runs = Spread::of(c.roster.iter().map(|m| m.runs_per_s));
            let r_steps = Spread::of(c.roster.iter().map(|m| m.steps_per_s));
            let rss = Spread::of(c.roster.iter().map(|m| m.peak_rss_mib));
            let cpu = Spread::of(c.roster.iter().map(|m| m.cpu_s));
            let l_runs = Spread::of(c.onboard_load.iter().map(|l| l.runs_per_s));
            let l_steps = Spread::of(c.onboard_load.iter().map(|l| l.steps_per_s));
            let ideal = c.concurrency as f64 / (5.0 * c.latency_ms as f64 / 1000.0);
            let _ = writeln!(
                out,
                "latency {} ms · N = {} · concurrency {}{}",
                c.latency_ms,
                number(c.runs as f64, 0),
                c.concurrency,
                if c.latency_ms > 0 {
                    format!(
                        " (concurrency limit C/(5×latency) = {} runs/s)",
                        number(ideal, 0)
                    )
                } else {
                    String::new()
                }
            );
            let _ = writeln!(
                out,
                "  {:<14} {:>26} {:>28} {:>20} {:>20}",
                "", "runs/s", "steps/s", "peak RSS MiB", "CPU s"
            );
            let _ = writeln!(
                out,
                "  {:<14} {:>26} {:>28} {:>20} {:>20}",
                "roster",
                r_runs.show(0),
                r_steps.show(0),
                rss.show(1),
                cpu.show(2)
            );
            let _ = writeln!(
                out,
                "  {:<14} {:>26} {:>28} {:>20} {:>20}",
                "onboard_load",
                l_runs.show(0),
                l_steps.show(0),
                "–",
                "–"
            );
            let _ = writeln!(
                out,
                "  roster ÷ onboard_load: {:.1} %   roster steps/s ÷ SQLite single commits/s: {:.2}\n",
                100.0 * r_steps.median / l_steps.median,
                r_steps.median / single.median
            );
        }
        out
    }

    pub fn json(&self) -> Value {
        let (cpus, mem_kib, model) = &self.machine;
        let single = self.single_commits();
        let configurations: Vec<Value> = self
            .configurations
            .iter()
            .map(|c| {
                let r_steps = Spread::of(c.roster.iter().map(|m| m.steps_per_s));
                let l_steps = Spread::of(c.onboard_load.iter().map(|l| l.steps_per_s));
                json!({
                    "latency_ms": c.latency_ms,
                    "runs": c.runs,
                    "concurrency": c.concurrency,
                    "roster": {
                        "runs_per_s": Spread::of(c.roster.iter().map(|m| m.runs_per_s)).json(),
                        "steps_per_s": r_steps.json(),
                        "wall_s": Spread::of(c.roster.iter().map(|m| m.wall_s)).json(),
                        "peak_rss_mib": Spread::of(c.roster.iter().map(|m| m.peak_rss_mib)).json(),
                        "cpu_s": Spread::of(c.roster.iter().map(|m| m.cpu_s)).json(),
                        "cpu_window_s": Spread::of(c.roster.iter().map(|m| m.cpu_window_s)).json(),
                        "repetitions": c.roster,
                    },
                    "onboard_load": {
                        "runs_per_s": Spread::of(c.onboard_load.iter().map(|l| l.runs_per_s)).json(),
                        "steps_per_s": l_steps.json(),
                        "repetitions": c.onboard_load,
                    },
                    "roster_share_of_onboard_load": r_steps.median / l_steps.median,
                    "roster_steps_per_single_commit": r_steps.median / single.median,
                })
            })
            .collect();
        json!({
            "machine": { "cpus": cpus, "memory_kib": mem_kib, "cpu_model": model },
            "repetitions": self.reps,
            "load_average_1m": Spread::of(self.load.iter().copied()).json(),
            "sqlite": {
                "single_commits_per_s": single.json(),
                "batch100_rows_per_s":
                    Spread::of(self.sqlite.iter().map(|s| s.batch100_rows_per_s)).json(),
                "repetitions": self.sqlite,
            },
            "configurations": configurations,
        })
    }
}
