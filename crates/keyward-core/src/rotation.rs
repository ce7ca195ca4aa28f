//! Secrets Manager's rotation schedules: `AutomaticallyAfterDays`, `rate(N days|hours)` and
//! six-field `cron(minutes hours day-of-month month day-of-week year)` expressions, with an
//! optional window `Duration` (`Nh`). [`Schedule::next_after`] gives the start of the next
//! rotation window; Keyward rotates at the start of the window.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::secret::SecretsError;
use crate::UnixMillis;

const MILLIS_PER_HOUR: i64 = 3_600_000;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;
/// How far ahead a cron expression is searched for its next time.
const CRON_HORIZON_DAYS: i64 = 366 * 5;

/// A secret's rotation configuration, as `RotateSecret` set it and `DescribeSecret` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationConfig {
    /// `RotationEnabled`: `CancelRotateSecret` turns it off and keeps the rest.
    pub enabled: bool,
    pub lambda_arn: Option<String>,
    pub automatically_after_days: Option<i64>,
    pub schedule_expression: Option<String>,
    pub duration: Option<String>,
    /// When the scheduler next starts a rotation: the next window, or the retry of a
    /// rotation that failed.
    pub next: Option<UnixMillis>,
    /// When the next window opens (`NextRotationDate`), whatever retries happen before it.
    #[serde(default)]
    pub next_window: Option<UnixMillis>,
    pub last_rotated: Option<UnixMillis>,
    /// Failed attempts of the rotation in progress.
    #[serde(default)]
    pub retries: u32,
}

impl RotationConfig {
    /// The schedule its rules describe; `None` when it has none.
    pub fn schedule(&self) -> Result<Option<Schedule>, SecretsError> {
        if self.automatically_after_days.is_none() && self.schedule_expression.is_none() {
            return Ok(None);
        }
        Schedule::parse(
            self.automatically_after_days,
            self.schedule_expression.as_deref(),
            self.duration.as_deref(),
        )
        .map(Some)
    }
}

/// When rotations happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    every: Every,
    /// The window's length in hours, when one was given.
    pub window_hours: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Every {
    /// A fixed interval after the last rotation.
    Interval(i64),
    Cron(Box<Cron>),
}

fn invalid(message: impl Into<String>) -> SecretsError {
    SecretsError::InvalidParameter(message.into())
}

impl Schedule {
    /// Parses and validates `RotationRules` as Secrets Manager does.
    pub fn parse(
        after_days: Option<i64>,
        expression: Option<&str>,
        duration: Option<&str>,
    ) -> Result<Self, SecretsError> {
        let every = match (after_days, expression) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "RotationRules must contain AutomaticallyAfterDays or ScheduleExpression.",
                ))
            }
            (Some(days), None) => {
                if !(1..=1000).contains(&days) {
                    return Err(invalid(
                        "The rotation interval AutomaticallyAfterDays must be between 1 and 1000 days.",
                    ));
                }
                Every::Interval(days * MILLIS_PER_DAY)
            }
            (None, Some(expression)) => parse_expression(expression)?,
        };
        let window_hours = duration.map(parse_duration).transpose()?;
        if let (Some(hours), Every::Interval(interval)) = (window_hours, &every) {
            if i64::from(hours) * MILLIS_PER_HOUR > *interval {
                return Err(invalid(
                    "The rotation window Duration can't be longer than the rotation interval.",
                ));
            }
        }
        Ok(Self {
            every,
            window_hours,
        })
    }

    /// The start of the next rotation window after a rotation (or a configuration) at
    /// `from`.
    pub fn next_after(&self, from: UnixMillis) -> Option<UnixMillis> {
        match &self.every {
            Every::Interval(interval) => Some(UnixMillis(from.0.checked_add(*interval)?)),
            Every::Cron(cron) => cron.next_after(from),
        }
    }
}

fn parse_duration(duration: &str) -> Result<u32, SecretsError> {
    let hours = duration
        .strip_suffix('h')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=24).contains(n));
    hours.ok_or_else(|| {
        invalid(format!(
            "The rotation window Duration {duration} is invalid: give a number of hours from 1h to 24h."
        ))
    })
}

fn parse_expression(expression: &str) -> Result<Every, SecretsError> {
    let bad = || {
        invalid(format!(
            "The schedule expression {expression} is invalid: use rate(N days), rate(N hours) or cron(minutes hours day-of-month month day-of-week year)."
        ))
    };
    if let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (n, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
        let n: i64 = n.parse().map_err(|_| bad())?;
        return match unit.trim() {
            "day" | "days" if (1..=1000).contains(&n) => Ok(Every::Interval(n * MILLIS_PER_DAY)),
            "hour" | "hours" if (4..=24).contains(&n) => Ok(Every::Interval(n * MILLIS_PER_HOUR)),
            "hour" | "hours" => Err(invalid(
                "A rate expression in hours must be between rate(4 hours) and rate(24 hours).",
            )),
            "day" | "days" => Err(invalid(
                "A rate expression in days must be between rate(1 day) and rate(1000 days).",
            )),
            _ => Err(bad()),
        };
    }
    let inner = expression
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    Ok(Every::Cron(Box::new(Cron::parse(inner).map_err(
        |why| {
            invalid(format!(
                "The schedule expression {expression} is invalid: {why}"
            ))
        },
    )?)))
}

/// A six-field cron expression as EventBridge and Secrets Manager write them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None` when the field is `?`.
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    /// Sunday is 1, as in EventBridge. `None` when the field is `?`.
    days_of_week: Option<Vec<bool>>,
    years: Vec<bool>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIRST_YEAR: u32 = 1970;
const LAST_YEAR: u32 = 2199;

impl Cron {
    fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
            return Err(format!(
                "it has {} fields where cron() takes six",
                fields.len()
            ));
        };
        let days_of_month = match *dom {
            "?" => None,
            f => Some(field(f, 1, 31, &[])?),
        };
        let days_of_week = match *dow {
            "?" => None,
            f => Some(field(f, 1, 7, &WEEKDAYS)?),
        };
        if days_of_month.is_some() == days_of_week.is_some() {
            return Err("exactly one of day-of-month and day-of-week must be ?".into());
        }
        Ok(Self {
            minutes: field(minutes, 0, 59, &[])?,
            hours: field(hours, 0, 23, &[])?,
            days_of_month,
            months: field(month, 1, 12, &MONTHS)?,
            days_of_week,
            years: field(year, FIRST_YEAR, LAST_YEAR, &[])?,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let year = u32::try_from(date.year()).unwrap_or(0);
        let at = |set: &Vec<bool>, value: u32, low: u32| {
            value
                .checked_sub(low)
                .and_then(|i| set.get(i as usize))
                .copied()
                .unwrap_or(false)
        };
        if !at(&self.years, year, FIRST_YEAR)
            || !at(&self.months, u32::from(u8::from(date.month())), 1)
        {
            return false;
        }
        match (&self.days_of_month, &self.days_of_week) {
            (Some(days), _) => at(days, u32::from(date.day()), 1),
            (None, Some(days)) => at(days, u32::from(date.weekday().number_from_sunday()), 1),
            (None, None) => false,
        }
    }

    fn next_after(&self, from: UnixMillis) -> Option<UnixMillis> {
        let start = OffsetDateTime::from_unix_timestamp(from.0.div_euclid(1000)).ok()?;
        let first_day = start.date();
        let after_minute = i64::from(start.hour()) * 60 + i64::from(start.minute());
        for offset in 0..CRON_HORIZON_DAYS {
            let date = first_day.checked_add(time::Duration::days(offset))?;
            if !self.day_matches(date) {
                continue;
            }
            for (hour, _) in self.hours.iter().enumerate().filter(|(_, on)| **on) {
                for (minute, _) in self.minutes.iter().enumerate().filter(|(_, on)| **on) {
                    let of_day = (hour * 60 + minute) as i64;
                    if offset == 0 && of_day <= after_minute {
                        continue;
                    }
                    let midnight = date.midnight().assume_utc().unix_timestamp();
                    return Some(UnixMillis((midnight + of_day * 60) * 1000));
                }
            }
        }
        None
    }
}

/// One cron field as a set of the values from `low` to `high`: `*`, numbers or names,
/// ranges `a-b`, steps `*/n`, `a/n`, `a-b/n`, and lists of these.
fn field(text: &str, low: u32, high: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let value = |token: &str| -> Result<u32, String> {
        if let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(token)) {
            return Ok(low + index as u32);
        }
        match token.parse::<u32>() {
            Ok(v) if (low..=high).contains(&v) => Ok(v),
            _ => Err(format!(
                "{token} is not a value from {low} to {high} (L, W and # are not supported)"
            )),
        }
    };
    let mut set = vec![false; (high - low + 1) as usize];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{step} is not a step"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if item.contains('/') => (value(range)?, high),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if first > last {
            return Err(format!("{range} is not an ascending range"));
        }
        for v in (first..=last).step_by(step as usize) {
            set[(v - low) as usize] = true;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> UnixMillis {
        let format = time::format_description::well_known::Rfc3339;
        UnixMillis(
            OffsetDateTime::parse(text, &format)
                .unwrap()
                .unix_timestamp()
                * 1000,
        )
    }

    fn next(expression: &str, from: &str) -> Option<UnixMillis> {
        Schedule::parse(None, Some(expression), None)
            .unwrap()
            .next_after(at(from))
    }

    #[test]
    fn days_and_rates_count_from_the_last_rotation() {
        let from = at("2026-01-01T10:00:00Z");
        let days = Schedule::parse(Some(30), None, None).unwrap();
        assert_eq!(days.next_after(from), Some(at("2026-01-31T10:00:00Z")));
        assert_eq!(
            next("rate(10 days)", "2026-01-01T10:00:00Z"),
            Some(at("2026-01-11T10:00:00Z"))
        );
        assert_eq!(
            next("rate(4 hours)", "2026-01-01T10:00:00Z"),
            Some(at("2026-01-01T14:00:00Z"))
        );
    }

    #[test]
    fn cron_finds_the_next_matching_minute() {
        // 16:00 on the 1st and 15th of each month.
        assert_eq!(
            next("cron(0 16 1,15 * ? *)", "2026-03-02T00:00:00Z"),
            Some(at("2026-03-15T16:00:00Z"))
        );
        // Not the same minute again.
        assert_eq!(
            next("cron(0 16 1,15 * ? *)", "2026-03-15T16:00:00Z"),
            Some(at("2026-04-01T16:00:00Z"))
        );
        // Every Sunday (1) at 08:30; 2026-03-02 is a Monday.
        assert_eq!(
            next("cron(30 8 ? * SUN *)", "2026-03-02T09:00:00Z"),
            Some(at("2026-03-08T08:30:00Z"))
        );
        assert_eq!(
            next("cron(30 8 ? * 1 *)", "2026-03-02T09:00:00Z"),
            Some(at("2026-03-08T08:30:00Z"))
        );
        // Every 6 hours, later the same day.
        assert_eq!(
            next("cron(0 */6 * * ? *)", "2026-03-02T07:10:00Z"),
            Some(at("2026-03-02T12:00:00Z"))
        );
        // A year that has passed never comes.
        assert_eq!(next("cron(0 0 1 1 ? 2020)", "2026-03-02T07:10:00Z"), None);
    }

    #[test]
    fn bad_rules_are_refused() {
        for (days, expression, duration) in [
            (Some(0), None, None),
            (Some(1001), None, None),
            (Some(5), Some("rate(5 days)"), None),
            (None, None, None),
            (None, Some("rate(1 hour)"), None),
            (None, Some("rate(5 weeks)"), None),
            (None, Some("rate(0 days)"), None),
            (None, Some("cron(0 16 1 * * *)"), None),
            (None, Some("cron(0 16 ? * ? *)"), None),
            (None, Some("cron(0 16 1 *)"), None),
            (None, Some("cron(0 25 1 * ? *)"), None),
            (None, Some("cron(0 16 L * ? *)"), None),
            (None, Some("every day"), None),
            (Some(1), None, Some("25h")),
            (Some(1), None, Some("3d")),
            (None, Some("rate(4 hours)"), Some("5h")),
        ] {
            let parsed = Schedule::parse(days, expression, duration);
            assert!(
                matches!(parsed, Err(SecretsError::InvalidParameter(_))),
                "{days:?} {expression:?} {duration:?}: {parsed:?}"
            );
        }
        assert_eq!(
            Schedule::parse(Some(1), None, Some("3h"))
                .unwrap()
                .window_hours,
            Some(3)
        );
    }
}
