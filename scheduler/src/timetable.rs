//! Timetables: which data intervals a scheduled DAG has, as Airflow defines them.
//!
//! A scheduled run covers one data interval `[start, end)`; its logical date is `start` and it
//! is created once `end` has passed (for `@once`, the interval is the start date itself).
//! Cron expressions are read in the DAG's time zone exactly as Airflow's
//! `CronDataIntervalTimetable` reads them, daylight-saving changes included:
//!
//! * a schedule that fires less than every hour is computed on the local wall clock, and a
//!   local time that does not exist (the skipped hour) or exists twice (the repeated hour) is
//!   taken after the transition: `02:30` on a spring-forward night is `03:30` new time, on a
//!   fall-back night the second `02:30`;
//! * a schedule that fires every hour (`*` in the hour field) moves by elapsed time, so it
//!   neither skips the skipped hour's runs nor repeats the repeated hour's.
//!
//! Cron matching is `croner`'s (day of month and day of week combine with OR, as in Vixie cron
//! and Airflow's croniter); zones are `chrono-tz`'s. Fixed intervals are anchored at the start
//! date; Airflow anchors them at the Unix epoch when catchup is off, which the README notes.

use airlock_protocol::dag::{DagTiming, Schedule};
use chrono::{DateTime, DurationRound, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// One data interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Its start: the run's logical date.
    pub start: DateTime<Utc>,
    /// Its end: when the run may be created and start.
    pub end: DateTime<Utc>,
}

/// A DAG's schedule that cannot be used; names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DAG {dag_id:?}: {field} {value:?}: {reason}")]
pub struct ScheduleError {
    /// The DAG.
    pub dag_id: String,
    /// The field (`schedule`, `timezone`, ...).
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron {
        cron: Box<Cron>,
        tz: Tz,
        every_hour: bool,
    },
    Every(TimeDelta),
    Once,
}

/// A DAG's timetable with its bounds.
#[derive(Debug, Clone)]
pub struct Timetable {
    kind: Kind,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
    catchup: bool,
}

/// Airflow's presets.
fn preset(expr: &str) -> Option<&'static str> {
    Some(match expr {
        "@hourly" => "0 * * * *",
        "@daily" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@quarterly" => "0 0 1 */3 *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        _ => return None,
    })
}

impl Timetable {
    /// The timetable of DAG `dag_id` with `timing`.
    pub fn new(dag_id: &str, dag: &DagTiming) -> Result<Self, ScheduleError> {
        let error = |field: &'static str, value: &str, reason: String| ScheduleError {
            dag_id: dag_id.to_owned(),
            field,
            value: value.to_owned(),
            reason,
        };
        let tz_name = dag.timezone.as_deref().unwrap_or("UTC");
        let tz: Tz = tz_name
            .parse()
            .map_err(|_| error("timezone", tz_name, "not an IANA time zone".into()))?;
        let kind = match &dag.schedule {
            Schedule::Cron(expr) if expr.trim() == "@once" => Kind::Once,
            Schedule::Cron(expr) => {
                let text = preset(expr.trim()).unwrap_or(expr.trim());
                let fields: Vec<&str> = text.split_whitespace().collect();
                if fields.len() != 5 {
                    return Err(error(
                        "schedule",
                        expr,
                        "a cron expression has five fields (minute hour day-of-month month \
                         day-of-week), or use a preset such as @daily"
                            .into(),
                    ));
                }
                let cron = CronParser::builder()
                    .seconds(Seconds::Disallowed)
                    .year(Year::Disallowed)
                    .build()
                    .parse(text)
                    .map_err(|e| error("schedule", expr, e.to_string()))?;
                Kind::Cron {
                    cron: Box::new(cron),
                    tz,
                    every_hour: fields[1] == "*",
                }
            }
            Schedule::Every { every } => {
                let ms = (every * 1000.0).round();
                if !(ms.is_finite() && ms >= 1000.0) {
                    return Err(error(
                        "schedule",
                        &every.to_string(),
                        "an interval is at least one second".into(),
                    ));
                }
                Kind::Every(TimeDelta::milliseconds(ms as i64))
            }
        };
        if let (Some(s), Some(e)) = (dag.start_date, dag.end_date)
            && e < s
        {
            return Err(error(
                "end_date",
                &airlock_protocol::time::to_rfc3339(&e),
                "is before start_date".into(),
            ));
        }
        Ok(Self {
            kind,
            start_date: dag.start_date,
            end_date: dag.end_date,
            catchup: dag.catchup,
        })
    }

    /// The interval of the next scheduled run after the run of `last` (the latest scheduled
    /// run so far, if any), judged at `now`; `None` when the timetable has no more.
    pub fn next_interval(&self, last: Option<Interval>, now: DateTime<Utc>) -> Option<Interval> {
        if let Kind::Once = self.kind {
            if last.is_some() {
                return None;
            }
            let at = self.start_date.unwrap_or(now);
            return self.within_end(Interval { start: at, end: at });
        }
        // Without a start date there is nothing to catch up from: only the latest interval.
        let earliest = if self.catchup && self.start_date.is_some() {
            self.start_date.map(|s| self.align_to_next(s))
        } else {
            Some(self.skip_to_latest(now)?)
        };
        let start = match last {
            None => earliest?,
            Some(last) => {
                let aligned = self.align_to_prev(last.end)?;
                let mut start = earliest.map_or(aligned, |e| aligned.max(e));
                // A schedule that changed may realign onto or before the last run's start.
                if start <= last.start {
                    start = self.next(start)?;
                    if start <= last.start {
                        return None;
                    }
                }
                start
            }
        };
        let end = self.next(start)?;
        self.within_end(Interval { start, end })
    }

    /// The intervals whose start lies in `[from, to]`, at most `limit` of them (backfills).
    pub fn intervals_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<Interval> {
        let mut out = Vec::new();
        if let Kind::Once = self.kind {
            let at = self.start_date.unwrap_or(from);
            if (from..=to).contains(&at) {
                out.push(Interval { start: at, end: at });
            }
            return out;
        }
        let mut start = match self.kind {
            Kind::Every(_) => match self.start_date {
                Some(anchor) => self.floor_on_grid(anchor, from).map(|s| {
                    if s < from {
                        self.next(s).unwrap_or(s)
                    } else {
                        s
                    }
                }),
                None => Some(from),
            },
            _ => Some(self.align_to_next(from)),
        };
        while let Some(s) = start {
            if s > to || out.len() == limit {
                break;
            }
            let Some(end) = self.next(s) else { break };
            out.push(Interval { start: s, end });
            start = Some(end);
        }
        out
    }

    fn within_end(&self, i: Interval) -> Option<Interval> {
        match self.end_date {
            Some(end) if i.start > end => None,
            _ => Some(i),
        }
    }

    /// The first schedule strictly after `t` (Airflow's `_get_next`).
    fn next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.step(t, true)
    }

    /// The last schedule strictly before `t` (Airflow's `_get_prev`).
    fn prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.step(t, false)
    }

    fn step(&self, t: DateTime<Utc>, forward: bool) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(d) if forward => t.checked_add_signed(*d),
            Kind::Every(d) => t.checked_sub_signed(*d),
            Kind::Once => None,
            Kind::Cron {
                cron,
                tz,
                every_hour,
            } => {
                // Cron works in whole seconds: the first schedule after `t` is the first after
                // its second; the last before `t` is the last before the second after it (a
                // schedule at `t`'s own second, before `t`, counts).
                let second = TimeDelta::seconds(1);
                let t = if forward {
                    t.duration_trunc(second)
                } else {
                    t.duration_round_up(second)
                }
                .ok()?;
                let naive = t.with_timezone(tz).naive_local();
                let from = Utc.from_utc_datetime(&naive);
                let found = if forward {
                    cron.find_next_occurrence(&from, false)
                } else {
                    cron.find_previous_occurrence(&from, false)
                }
                .ok()?
                .naive_utc();
                if *every_hour {
                    t.checked_add_signed(found - naive)
                } else {
                    make_aware(found, tz)
                }
            }
        }
    }

    /// `t` if it is a schedule, else the next one.
    fn align_to_next(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self.kind {
            Kind::Cron { .. } => match self.next(t) {
                Some(n) if self.prev(n) != Some(t) => n,
                _ => t,
            },
            _ => t,
        }
    }

    /// `t` if it is a schedule, else the previous one.
    fn align_to_prev(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.kind {
            Kind::Cron { .. } => {
                let p = self.prev(t)?;
                Some(if self.next(p) != Some(t) { p } else { t })
            }
            _ => Some(t),
        }
    }

    /// The start of the latest interval that has ended by `now` (never before the start date).
    fn skip_to_latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = match self.kind {
            Kind::Every(_) => {
                let anchor = self.start_date.unwrap_or(now);
                if now < anchor {
                    anchor
                } else {
                    let boundary = self.floor_on_grid(anchor, now)?;
                    self.prev(boundary)?
                }
            }
            _ => {
                let last_start = self.prev(now)?;
                let next_start = self.next(last_start)?;
                if next_start == now {
                    last_start
                } else {
                    self.prev(last_start)?
                }
            }
        };
        Some(match self.start_date {
            Some(s) => latest.max(self.align_to_next(s)),
            None => latest,
        })
    }

    /// The grid point `anchor + k × interval` at or before `t` (fixed intervals only).
    fn floor_on_grid(&self, anchor: DateTime<Utc>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Kind::Every(d) = self.kind else {
            return Some(t);
        };
        let step = d.num_milliseconds();
        let since = (t - anchor).num_milliseconds();
        let k = since.div_euclid(step);
        anchor.checked_add_signed(TimeDelta::milliseconds(k.checked_mul(step)?))
    }
}

/// A wall-clock time in `tz` as a moment, the way Airflow (pendulum) resolves it: a time that
/// exists twice is the later one, a time that does not exist is read with the offset from
/// before the transition (so it lands after it).
fn make_aware(naive: NaiveDateTime, tz: &Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(_, later) => Some(later.with_timezone(&Utc)),
        LocalResult::None => {
            // A gap is at most a few hours long: the offset three hours earlier is the one in
            // force before it.
            let before = naive.checked_sub_signed(TimeDelta::hours(3))?;
            let offset = match tz.from_local_datetime(&before) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    chrono::Offset::fix(t.offset())
                }
                LocalResult::None => return None,
            };
            Some(Utc.from_utc_datetime(&(naive - offset)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        airlock_protocol::time::parse_rfc3339(s).unwrap()
    }

    fn timing(schedule: Schedule) -> DagTiming {
        DagTiming {
            schedule,
            timezone: None,
            start_date: None,
            end_date: None,
            catchup: false,
        }
    }

    fn cron(expr: &str, tz: &str) -> Timetable {
        let mut dag = timing(Schedule::Cron(expr.into()));
        dag.timezone = Some(tz.into());
        Timetable::new("d", &dag).unwrap()
    }

    /// Instants Airflow's own timetable computes, across daylight-saving changes in both
    /// directions (see `tests/fixtures/README.md` for how the file was made).
    #[test]
    fn cron_instants_match_airflows_across_dst_changes() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/airflow-cron-dst.json"))
                .unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let (expr, tz) = (
                case["cron"].as_str().unwrap(),
                case["timezone"].as_str().unwrap(),
            );
            let t = cron(expr, tz);
            let from = at(case["from"].as_str().unwrap());
            let mut cur = from;
            for want in case["next"].as_array().unwrap() {
                cur = t.next(cur).unwrap();
                assert_eq!(cur, at(want.as_str().unwrap()), "next of {expr} in {tz}");
            }
            let mut cur = from;
            for want in case["prev"].as_array().unwrap() {
                cur = t.prev(cur).unwrap();
                assert_eq!(cur, at(want.as_str().unwrap()), "prev of {expr} in {tz}");
            }
        }
    }

    #[test]
    fn fractions_of_a_second_do_not_leak_into_schedules() {
        for expr in ["0 * * * *", "0 0 * * *"] {
            let t = cron(expr, "Europe/Amsterdam");
            let now = at("2026-05-01T12:34:56.976458Z");
            assert_eq!(t.prev(now).unwrap().timestamp_subsec_micros(), 0, "{expr}");
            assert_eq!(t.next(now).unwrap().timestamp_subsec_micros(), 0, "{expr}");
        }
        let hourly = cron("0 * * * *", "UTC");
        assert_eq!(
            hourly.prev(at("2026-05-01T12:00:00.5Z")),
            Some(at("2026-05-01T12:00:00Z"))
        );
        assert_eq!(
            hourly.next(at("2026-05-01T12:00:00.5Z")),
            Some(at("2026-05-01T13:00:00Z"))
        );
        assert_eq!(
            hourly.prev(at("2026-05-01T12:00:00Z")),
            Some(at("2026-05-01T11:00:00Z"))
        );
    }

    #[test]
    fn catchup_walks_contiguous_intervals_from_the_start_date() {
        let mut dag = timing(Schedule::Cron("@hourly".into()));
        dag.start_date = Some(at("2026-01-01T00:30:00Z"));
        dag.catchup = true;
        let t = Timetable::new("d", &dag).unwrap();
        let now = at("2026-01-01T05:10:00Z");
        let mut last = None;
        let mut got = Vec::new();
        while let Some(i) = t.next_interval(last, now) {
            if i.end > now {
                assert_eq!(i.start, at("2026-01-01T05:00:00Z"), "the next, not yet due");
                break;
            }
            if let Some(l) = last {
                assert_eq!(l.end, i.start, "contiguous");
            }
            got.push(i);
            last = Some(i);
        }
        assert_eq!(got.len(), 4, "01:00 to 05:00: {got:?}");
        assert_eq!(
            got[0].start,
            at("2026-01-01T01:00:00Z"),
            "aligned after the start date"
        );
    }

    #[test]
    fn without_catchup_only_the_latest_interval_runs() {
        let mut dag = timing(Schedule::Cron("@daily".into()));
        dag.start_date = Some(at("2026-01-01T00:00:00Z"));
        let t = Timetable::new("d", &dag).unwrap();
        let now = at("2026-03-10T12:00:00Z");
        let i = t.next_interval(None, now).unwrap();
        assert_eq!(
            (i.start, i.end),
            (at("2026-03-09T00:00:00Z"), at("2026-03-10T00:00:00Z"))
        );
        // After a pause of a week, still only the latest.
        let later = at("2026-03-17T12:00:00Z");
        let j = t.next_interval(Some(i), later).unwrap();
        assert_eq!(j.start, at("2026-03-16T00:00:00Z"));
    }

    #[test]
    fn fixed_intervals_once_and_end_dates() {
        let mut dag = timing(Schedule::Every { every: 7200.0 });
        dag.start_date = Some(at("2026-01-01T00:15:00Z"));
        dag.end_date = Some(at("2026-01-01T04:15:00Z"));
        dag.catchup = true;
        let t = Timetable::new("d", &dag).unwrap();
        let far = at("2027-01-01T00:00:00Z");
        let a = t.next_interval(None, far).unwrap();
        assert_eq!(
            (a.start, a.end),
            (at("2026-01-01T00:15:00Z"), at("2026-01-01T02:15:00Z"))
        );
        let b = t.next_interval(Some(a), far).unwrap();
        let c = t.next_interval(Some(b), far).unwrap();
        assert_eq!(
            c.start,
            at("2026-01-01T04:15:00Z"),
            "the end date is inclusive"
        );
        assert_eq!(t.next_interval(Some(c), far), None);

        dag.schedule = Schedule::Cron("@once".into());
        let once = Timetable::new("d", &dag).unwrap();
        let only = once.next_interval(None, far).unwrap();
        assert_eq!(
            (only.start, only.end),
            (at("2026-01-01T00:15:00Z"), at("2026-01-01T00:15:00Z"))
        );
        assert_eq!(once.next_interval(Some(only), far), None);

        let range =
            t.intervals_between(at("2026-01-01T01:00:00Z"), at("2026-01-01T05:00:00Z"), 100);
        let starts: Vec<_> = range.iter().map(|i| i.start).collect();
        assert_eq!(
            starts,
            vec![at("2026-01-01T02:15:00Z"), at("2026-01-01T04:15:00Z")]
        );
    }

    #[test]
    fn bad_schedules_name_the_dag_field_and_value() {
        let mut dag = timing(Schedule::Cron("@daily".into()));
        for (schedule, tz, field) in [
            ("0 3 * *", "UTC", "schedule"),
            ("61 * * * *", "UTC", "schedule"),
            ("0 0 0 * * *", "UTC", "schedule"),
            ("@daily", "Mars/Olympus", "timezone"),
        ] {
            dag.schedule = Schedule::Cron(schedule.into());
            dag.timezone = Some(tz.into());
            let e = Timetable::new("nightly", &dag).unwrap_err();
            assert_eq!((e.dag_id.as_str(), e.field), ("nightly", field), "{e}");
            assert!(e.to_string().contains("nightly"), "{e}");
        }
    }
}
