//! A cron schedule in an IANA time zone: what `on: - schedule: { cron, timezone }` compiles to.
//!
//! The syntax is Unix cron's five fields (`minute hour day-of-month month day-of-week`), or six
//! with seconds first (`sec min hour dom month dow`), or seven with a year last. Day-of-week
//! numbers are Unix's in every form (0 or 7 = Sunday, 1 = Monday … 6 = Saturday) and names
//! (`MON-FRI`) work too. The `cron` crate numbers days from 1 = Sunday, so numbers are
//! translated to names before it parses them: `0 7 * * 1-5` means weekdays, as a Unix user
//! expects.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed, valid schedule.
#[derive(Debug, Clone)]
pub struct Cron {
    /// As written, for messages and the event.
    pub expression: String,
    pub timezone: Tz,
    schedule: cron::Schedule,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Cron) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl Cron {
    /// Parses `expression` in `timezone` (default UTC). Errors say which part is wrong.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Cron, String> {
        let tz = match timezone {
            None => Tz::UTC,
            Some(name) => Tz::from_str(name.trim()).map_err(|_| {
                format!("'{name}' is not an IANA time zone (like Europe/Berlin, America/New_York or UTC)")
            })?,
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let mut full: Vec<String> = match fields.len() {
            5 => std::iter::once("0")
                .chain(fields.iter().copied())
                .map(String::from)
                .collect(),
            6 | 7 => fields.iter().map(|s| s.to_string()).collect(),
            n => {
                return Err(format!(
                    "cron '{expression}' has {n} fields; expected 5 (minute hour day-of-month month day-of-week), or 6 with seconds first"
                ))
            }
        };
        full[5] = unix_days_of_week(&full[5])?;
        let schedule = cron::Schedule::from_str(&full.join(" "))
            .map_err(|e| format!("cron '{expression}' is not valid: {e}"))?;
        let c = Cron {
            expression: expression.to_string(),
            timezone: tz,
            schedule,
        };
        if c.next_after(Utc::now().timestamp_millis()).is_none() {
            return Err(format!("cron '{expression}' never fires again"));
        }
        Ok(c)
    }

    /// The first tick strictly after `after_ms` (Unix milliseconds), in milliseconds.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = self.timezone.timestamp_millis_opt(after_ms).single()?;
        self.schedule
            .after(&after)
            .next()
            .map(|t| t.timestamp_millis())
    }

    /// The latest tick in `(after_ms, until_ms]`, if any: what a scheduler that was not running
    /// for a while fires, once.
    pub fn latest_between(&self, after_ms: i64, until_ms: i64) -> Option<i64> {
        let after = self.timezone.timestamp_millis_opt(after_ms).single()?;
        let mut latest = None;
        for t in self.schedule.after(&after) {
            let ms = t.timestamp_millis();
            if ms > until_ms {
                break;
            }
            latest = Some(ms);
        }
        latest
    }

    /// A tick as RFC 3339 in the schedule's zone (what playbooks see).
    pub fn display(&self, ms: i64) -> String {
        match self.timezone.timestamp_millis_opt(ms).single() {
            Some(t) => t.to_rfc3339(),
            None => DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| ms.to_string()),
        }
    }
}

const DAYS: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// Unix day-of-week numbers → names (`1-5` → `MON-FRI`, `5-7` → `FRI-SAT,SUN`). Steps (`*/2`)
/// keep their number; names pass through.
fn unix_days_of_week(field: &str) -> Result<String, String> {
    let day = |s: &str| -> Result<Option<usize>, String> {
        if !s.chars().all(|c| c.is_ascii_digit()) || s.is_empty() {
            return Ok(None);
        }
        match s.parse::<usize>() {
            Ok(n) if n <= 7 => Ok(Some(n)),
            _ => Err(format!(
                "day of week '{s}' is out of range: 0-7 (0 and 7 are Sunday) or MON-SUN"
            )),
        }
    };
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let translated = match range.split_once('-') {
            Some((a, b)) => match (day(a)?, day(b)?) {
                (Some(a), Some(7)) if a > 0 && step.is_none() => {
                    format!("{}-SAT,SUN", DAYS[a])
                }
                (Some(a), Some(b)) => format!("{}-{}", DAYS[a], DAYS[b]),
                _ => range.to_string(),
            },
            None => match day(range)? {
                Some(n) => DAYS[n].to_string(),
                None => range.to_string(),
            },
        };
        parts.push(match step {
            Some(s) => format!("{translated}/{s}"),
            None => translated,
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn weekdays_at_seven_in_berlin_follow_unix_numbering() {
        let c = Cron::parse("0 7 * * 1-5", Some("Europe/Berlin")).unwrap();
        // Friday 2026-01-02 08:00 Berlin → next is Monday 2026-01-05 07:00 Berlin (06:00 UTC).
        let next = c.next_after(at("2026-01-02T07:00:00Z")).unwrap();
        assert_eq!(next, at("2026-01-05T06:00:00Z"));
        let t = c.timezone.timestamp_millis_opt(next).unwrap();
        assert_eq!((t.weekday(), t.hour()), (Weekday::Mon, 7));
        // Summer time: 07:00 Berlin is 05:00 UTC.
        assert_eq!(
            c.next_after(at("2026-07-01T12:00:00Z")).unwrap(),
            at("2026-07-02T05:00:00Z")
        );
    }

    #[test]
    fn sunday_is_zero_or_seven_and_ranges_to_seven_work() {
        for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let c = Cron::parse(expr, None).unwrap();
            let t = Utc
                .timestamp_millis_opt(c.next_after(at("2026-01-01T00:00:00Z")).unwrap())
                .unwrap();
            assert_eq!(t.weekday(), Weekday::Sun, "{expr}");
        }
        let c = Cron::parse("0 9 * * 5-7", None).unwrap();
        let days: Vec<Weekday> = (0..3)
            .scan(at("2026-01-01T00:00:00Z"), |t, _| {
                *t = c.next_after(*t)?;
                Some(Utc.timestamp_millis_opt(*t).unwrap().weekday())
            })
            .collect();
        assert_eq!(days, [Weekday::Fri, Weekday::Sat, Weekday::Sun]);
    }

    #[test]
    fn bad_expressions_and_zones_say_what_is_wrong() {
        let e = Cron::parse("0 7 * *", None).unwrap_err();
        assert!(e.contains("4 fields"), "{e}");
        let e = Cron::parse("0 25 * * *", None).unwrap_err();
        assert!(e.contains("not valid"), "{e}");
        let e = Cron::parse("0 7 * * 9", None).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = Cron::parse("0 7 * * *", Some("Europe/Berlinn")).unwrap_err();
        assert!(e.contains("IANA"), "{e}");
    }

    #[test]
    fn the_latest_missed_tick_is_found_once() {
        let c = Cron::parse("* * * * * *", None).unwrap();
        let t0 = at("2026-01-01T00:00:00Z");
        assert_eq!(c.latest_between(t0, t0 + 10_500), Some(t0 + 10_000));
        assert_eq!(c.latest_between(t0, t0 + 500), None);
    }
}
