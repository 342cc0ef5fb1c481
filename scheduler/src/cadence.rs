//! When a schedule fires: cron expressions in an IANA time zone (croner + chrono-tz), fixed
//! intervals aligned to the Unix epoch, deterministic jitter, and the spans operators type
//! (`30s`, `15m`, `1h`, `1d`). Pure functions of their inputs: no clock, no database, so every
//! replica computes the same slots, and tests pin exact instants.
//!
//! Slots are whole seconds. An interval's slots are the multiples of its length since
//! 1970-01-01T00:00:00Z (`--every 15m` fires at :00, :15, :30, :45 on every replica, whenever
//! the schedule was created); a cron expression's are the instants its wall clock matches in
//! the schedule's time zone, with croner's DST rules: a fixed time inside a spring-forward gap
//! fires right after the gap, a fixed time in a repeated fall-back hour fires once, on its
//! first pass; wildcard fields fire on each real instant they match.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use sha2::{Digest, Sha256};

/// Most slots counted one by one when recording a run of missed cron slots; beyond it the run
/// is recorded without a count (it is still recorded, first and last).
const MAX_COUNTED_MISSED: i64 = 100_000;

/// A parsed, checked cadence.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// A cron expression read in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// Its wall clock.
        zone: Tz,
    },
    /// Every `seconds`, aligned to the Unix epoch.
    Every {
        /// The interval.
        seconds: i64,
    },
}

impl Cadence {
    /// Parses a stored cadence with its time zone; the error names the field.
    pub fn parse(cadence: &tributary_store::Cadence, time_zone: &str) -> Result<Self, String> {
        let zone = parse_time_zone(time_zone)?;
        match cadence {
            tributary_store::Cadence::Cron(expression) => Ok(Cadence::Cron {
                cron: Box::new(parse_cron(expression)?),
                zone,
            }),
            tributary_store::Cadence::EverySeconds(seconds) if *seconds > 0 => Ok(Cadence::Every {
                seconds: i64::from(*seconds),
            }),
            tributary_store::Cadence::EverySeconds(_) => {
                Err("every: must be at least one second".into())
            }
        }
    }

    /// The first slot at or after `from` (`None`: there is none).
    pub fn first_at_or_after(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = ceil_to_second(from);
        match self {
            Cadence::Every { seconds } => {
                let at = from.timestamp();
                let slot = at.div_euclid(*seconds) * seconds
                    + if at.rem_euclid(*seconds) == 0 {
                        0
                    } else {
                        *seconds
                    };
                DateTime::from_timestamp(slot, 0)
            }
            Cadence::Cron { cron, zone } => cron
                .find_next_occurrence(&from.with_timezone(zone), true)
                .ok()
                .map(|slot| slot.with_timezone(&Utc)),
        }
    }

    /// The first slot after `slot` (`None`: there is none).
    pub fn next_after(&self, slot: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Every { .. } => self.first_at_or_after(slot + TimeDelta::seconds(1)),
            Cadence::Cron { cron, zone } => cron
                .find_next_occurrence(&slot.with_timezone(zone), false)
                .ok()
                .map(|next| next.with_timezone(&Utc)),
        }
    }

    /// The slots from `first` (a slot) up to, not including, `end`: the last of them, how many
    /// (`None` past [`MAX_COUNTED_MISSED`]), and the first slot at or after `end`.
    pub fn span_before(
        &self,
        first: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> (DateTime<Utc>, Option<i64>, Option<DateTime<Utc>>) {
        let resume = self.first_at_or_after(end);
        match self {
            Cadence::Every { seconds } => {
                // The largest multiple of the interval strictly before `end`.
                let last_second = if end.timestamp_subsec_nanos() > 0 {
                    end.timestamp()
                } else {
                    end.timestamp() - 1
                };
                let last = DateTime::from_timestamp(last_second.div_euclid(*seconds) * seconds, 0)
                    .unwrap_or(first)
                    .max(first);
                let count = (last.timestamp() - first.timestamp()) / seconds + 1;
                (last, Some(count), resume)
            }
            Cadence::Cron { .. } => {
                let mut last = first;
                let mut count = 1;
                loop {
                    match self.next_after(last) {
                        Some(next) if next < end => {
                            if count >= MAX_COUNTED_MISSED {
                                break;
                            }
                            last = next;
                            count += 1;
                        }
                        _ => return (last, Some(count), resume),
                    }
                }
                // Too many to count: find the last one directly.
                if let Cadence::Cron { cron, zone } = self {
                    if let Ok(found) =
                        cron.find_previous_occurrence(&end.with_timezone(zone), false)
                    {
                        last = found.with_timezone(&Utc).max(last);
                    }
                }
                (last, None, resume)
            }
        }
    }
}

/// Parses an IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("time_zone: {name:?} is not an IANA time zone name (like Europe/Berlin or UTC)")
    })
}

/// Parses a cron expression: 5 fields (minute first) or 6 (second first), names and `@daily`
/// style nicknames allowed.
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|error| format!("cron: {expression:?} is not a cron expression: {error}"))
}

/// The delay of `slot`'s firing: in `[0, max_seconds]`, with millisecond steps, the same on
/// every replica and every version (SHA-256 of the schedule id and the slot's Unix second, not
/// a process-seeded hash).
pub fn jitter(schedule_id: i64, slot: DateTime<Utc>, max_seconds: i32) -> TimeDelta {
    if max_seconds <= 0 {
        return TimeDelta::zero();
    }
    let digest = Sha256::digest(format!(
        "tributary-jitter:v1:{schedule_id}:{}",
        slot.timestamp()
    ));
    let value = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 8 bytes"));
    let span_ms = u64::try_from(max_seconds).unwrap_or(0) * 1_000 + 1;
    TimeDelta::milliseconds((value % span_ms) as i64)
}

/// Parses a span of whole seconds: `0`, `45s`, `15m`, `2h`, `1d`.
pub fn parse_span(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit; use s, m, h or d (e.g. \"15m\")"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use s, m, h or d"
            ))
        }
    };
    number
        .checked_mul(unit_seconds)
        .and_then(|seconds| u32::try_from(seconds).ok())
        .filter(|seconds| i32::try_from(*seconds).is_ok())
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `from` rounded up to a whole second (slots are whole seconds).
fn ceil_to_second(from: DateTime<Utc>) -> DateTime<Utc> {
    if from.timestamp_subsec_nanos() == 0 {
        from
    } else {
        DateTime::from_timestamp(from.timestamp() + 1, 0).unwrap_or(from)
    }
}

/// The instant a wall-clock time in `zone` names (the earlier one when it names two, the one
/// after the gap when it names none).
pub fn local_midnight(date: chrono::NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    match zone.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(at) => at.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        // Midnight skipped by a DST change (a few zones do this): the first instant after.
        chrono::LocalResult::None => {
            let mut probe = midnight;
            loop {
                probe += TimeDelta::minutes(15);
                if let Some(at) = zone.from_local_datetime(&probe).earliest() {
                    return at.with_timezone(&Utc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn cron(expression: &str, zone: &str) -> Cadence {
        Cadence::parse(&tributary_store::Cadence::Cron(expression.into()), zone).unwrap()
    }

    fn slots_from(cadence: &Cadence, from: &str, count: usize) -> Vec<DateTime<Utc>> {
        let mut slot = cadence.first_at_or_after(utc(from)).unwrap();
        let mut slots = vec![slot];
        while slots.len() < count {
            slot = cadence.next_after(slot).unwrap();
            slots.push(slot);
        }
        slots
    }

    #[test]
    fn intervals_align_to_the_epoch_whenever_asked() {
        let every = Cadence::Every { seconds: 900 };
        assert_eq!(
            every.first_at_or_after(utc("2025-06-01T10:07:31.5Z")),
            Some(utc("2025-06-01T10:15:00Z"))
        );
        assert_eq!(
            every.first_at_or_after(utc("2025-06-01T10:15:00Z")),
            Some(utc("2025-06-01T10:15:00Z")),
            "a slot at the instant asked for is the first"
        );
        assert_eq!(
            every.next_after(utc("2025-06-01T10:15:00Z")),
            Some(utc("2025-06-01T10:30:00Z"))
        );
        let second = Cadence::Every { seconds: 1 };
        assert_eq!(
            second.first_at_or_after(utc("2025-06-01T10:00:00.001Z")),
            Some(utc("2025-06-01T10:00:01Z"))
        );
    }

    #[test]
    fn a_daily_cron_in_berlin_follows_the_wall_clock_across_both_dst_changes() {
        let nine = cron("0 9 * * *", "Europe/Berlin");
        // CET is UTC+1 until 2025-03-30 01:00Z, CEST (UTC+2) until 2025-10-26 01:00Z.
        assert_eq!(
            slots_from(&nine, "2025-03-29T00:00:00Z", 3),
            [
                utc("2025-03-29T08:00:00Z"),
                utc("2025-03-30T07:00:00Z"),
                utc("2025-03-31T07:00:00Z"),
            ]
        );
        assert_eq!(
            slots_from(&nine, "2025-10-25T00:00:00Z", 3),
            [
                utc("2025-10-25T07:00:00Z"),
                utc("2025-10-26T08:00:00Z"),
                utc("2025-10-27T08:00:00Z"),
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_fires_right_after_it_and_a_repeated_time_once() {
        let half_past_two = cron("30 2 * * *", "Europe/Berlin");
        // 2025-03-30 02:00–03:00 local does not exist: 02:30 fires at 03:00 CEST = 01:00Z.
        assert_eq!(
            slots_from(&half_past_two, "2025-03-29T12:00:00Z", 3),
            [
                utc("2025-03-30T01:00:00Z"),
                utc("2025-03-31T00:30:00Z"),
                utc("2025-04-01T00:30:00Z"),
            ]
        );
        // 2025-10-26 02:00–03:00 local happens twice: 02:30 fires once, on the first pass (CEST).
        assert_eq!(
            slots_from(&half_past_two, "2025-10-25T12:00:00Z", 3),
            [
                utc("2025-10-26T00:30:00Z"),
                utc("2025-10-27T01:30:00Z"),
                utc("2025-10-28T01:30:00Z"),
            ]
        );
    }

    #[test]
    fn a_wildcard_hour_fires_on_every_real_hour_through_both_dst_changes() {
        let hourly = cron("0 * * * *", "Europe/Berlin");
        let spring: Vec<_> = slots_from(&hourly, "2025-03-30T00:00:00Z", 3);
        assert_eq!(
            spring,
            [
                utc("2025-03-30T00:00:00Z"),
                utc("2025-03-30T01:00:00Z"),
                utc("2025-03-30T02:00:00Z"),
            ],
            "one slot per real hour: local 01:00 CET, 03:00 CEST, 04:00 CEST"
        );
        let autumn: Vec<_> = slots_from(&hourly, "2025-10-26T00:00:00Z", 3);
        assert_eq!(
            autumn,
            [
                utc("2025-10-26T00:00:00Z"),
                utc("2025-10-26T01:00:00Z"),
                utc("2025-10-26T02:00:00Z"),
            ],
            "local 02:00 CEST, 02:00 CET, 03:00 CET: the repeated hour fires twice"
        );
    }

    #[test]
    fn a_cron_with_seconds_fires_every_second() {
        let every_second = cron("* * * * * *", "UTC");
        assert_eq!(
            slots_from(&every_second, "2025-01-01T00:00:00.2Z", 2),
            [utc("2025-01-01T00:00:01Z"), utc("2025-01-01T00:00:02Z")]
        );
    }

    #[test]
    fn bad_cadences_are_refused_with_the_field_named() {
        let error = Cadence::parse(&tributary_store::Cadence::Cron("61 * * * *".into()), "UTC")
            .unwrap_err();
        assert!(error.starts_with("cron: "), "{error}");
        let error = Cadence::parse(
            &tributary_store::Cadence::Cron("0 9 * * *".into()),
            "Europe/Berlln",
        )
        .unwrap_err();
        assert!(error.starts_with("time_zone: "), "{error}");
        assert!(Cadence::parse(&tributary_store::Cadence::EverySeconds(0), "UTC").is_err());
    }

    #[test]
    fn jitter_is_the_same_for_a_slot_everywhere_and_spreads_across_slots() {
        let slot = utc("2025-06-01T10:15:00Z");
        assert_eq!(jitter(7, slot, 30), jitter(7, slot, 30));
        // Pinned: a different value means replicas of two versions would disagree.
        assert_eq!(
            jitter(7, slot, 30),
            TimeDelta::milliseconds(PINNED_JITTER_MS)
        );
        assert_eq!(jitter(7, slot, 0), TimeDelta::zero());
        let spread: std::collections::BTreeSet<i64> = (0..200)
            .map(|minute| {
                let delay = jitter(7, slot + TimeDelta::minutes(minute), 30);
                assert!(delay >= TimeDelta::zero() && delay <= TimeDelta::seconds(30));
                delay.num_milliseconds()
            })
            .collect();
        assert!(spread.len() > 150, "jitter barely varies: {spread:?}");
        assert_ne!(jitter(7, slot, 30), jitter(8, slot, 30));
    }

    const PINNED_JITTER_MS: i64 = 26_562;

    #[test]
    fn spans_take_units_up_to_days() {
        assert_eq!(parse_span("0"), Ok(0));
        assert_eq!(parse_span("45s"), Ok(45));
        assert_eq!(parse_span("15m"), Ok(900));
        assert_eq!(parse_span("1d"), Ok(86_400));
        assert!(parse_span("15").unwrap_err().contains("no unit"));
        assert!(parse_span("2w").unwrap_err().contains("unknown unit"));
        assert!(parse_span("99999999d").unwrap_err().contains("too long"));
    }

    #[test]
    fn a_span_of_missed_slots_is_counted_and_resumes_at_the_boundary() {
        let every = Cadence::Every { seconds: 60 };
        let (last, count, resume) =
            every.span_before(utc("2025-01-01T00:00:00Z"), utc("2025-01-01T01:00:00Z"));
        assert_eq!(last, utc("2025-01-01T00:59:00Z"));
        assert_eq!(count, Some(60));
        assert_eq!(resume, Some(utc("2025-01-01T01:00:00Z")));
        let (last, count, resume) =
            every.span_before(utc("2025-01-01T00:00:00Z"), utc("2025-01-01T00:30:30Z"));
        assert_eq!(last, utc("2025-01-01T00:30:00Z"));
        assert_eq!(count, Some(31));
        assert_eq!(resume, Some(utc("2025-01-01T00:31:00Z")));

        let minutely = cron("* * * * *", "UTC");
        let (last, count, resume) =
            minutely.span_before(utc("2025-01-01T00:00:00Z"), utc("2025-01-01T00:30:30Z"));
        assert_eq!(
            (last, count, resume),
            (
                utc("2025-01-01T00:30:00Z"),
                Some(31),
                Some(utc("2025-01-01T00:31:00Z"))
            )
        );
        // A year of seconds is not counted one by one, but its ends are exact.
        let secondly = cron("* * * * * *", "UTC");
        let (last, count, resume) =
            secondly.span_before(utc("2024-01-01T00:00:00Z"), utc("2025-01-01T00:00:00Z"));
        assert_eq!(last, utc("2024-12-31T23:59:59Z"));
        assert_eq!(count, None);
        assert_eq!(resume, Some(utc("2025-01-01T00:00:00Z")));
    }

    #[test]
    fn local_midnight_is_the_zone_s_midnight() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        assert_eq!(local_midnight(date, berlin), utc("2025-06-30T22:00:00Z"));
    }
}
