//! Opening hours: a pure rule over parsed times and a zone.

use crate::clock::Timestamp;
use chrono::{Datelike, Timelike};
use chrono_tz::Tz;

/// Seconds since local midnight; `Stop` may be 86 400 (24:00).
pub(crate) type DaySeconds = u32;

/// One weekday's hours, already parsed. `None` for a day means closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Opening time (inclusive).
    pub start: DaySeconds,
    /// Closing time (exclusive); ≤ start means closed that day.
    pub stop: DaySeconds,
}

/// A topic's opening hours in the form the rule needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeekHours {
    /// The zone the times are written in.
    pub zone: Tz,
    /// Monday first; `None` for a disabled day.
    pub days: [Option<Span>; 7],
    /// The lunch break, when UseLunchHours is on.
    pub lunch: Option<Span>,
}

impl WeekHours {
    /// Whether the topic is open at `now`.
    pub(crate) fn is_open(&self, now: Timestamp) -> bool {
        let Some(utc) = now.to_datetime() else {
            return false;
        };
        let local = utc.with_timezone(&self.zone);
        let day = local.weekday().num_days_from_monday() as usize;
        let t = local.num_seconds_from_midnight();
        let Some(Some(span)) = self.days.get(day) else {
            return false;
        };
        if !(span.start <= t && t < span.stop) {
            return false;
        }
        match self.lunch {
            Some(l) if l.stop > l.start => !(l.start <= t && t < l.stop),
            _ => true,
        }
    }
}

/// Reads a time of day: `HH:MM[:SS]`, or the wall-clock
/// part of a date-time string (`2024-01-01T08:30:00+01:00`); `24:00` is the
/// end of the day.
///
/// # Errors
/// A short reason when the text is not such a time.
pub(crate) fn parse_time_of_day(text: &str) -> Result<DaySeconds, String> {
    let t = text.trim();
    let clock = match t.find(['T', ' ']) {
        Some(i) if i >= 8 => &t[i + 1..],
        _ => t,
    };
    // Drop a fractional part and an offset after the wall-clock part.
    let end = clock
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(clock.len());
    let clock = &clock[..end];
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
        return Err(format!("{text:?} is not a time (HH:MM[:SS])"));
    }
    let num = |p: &str| {
        p.parse::<u32>()
            .map_err(|_| format!("{text:?} is not a time"))
    };
    let h = num(parts[0])?;
    let m = num(parts[1])?;
    let s = if parts.len() == 3 { num(parts[2])? } else { 0 };
    if h == 24 && m == 0 && s == 0 {
        return Ok(86_400);
    }
    if h > 23 || m > 59 || s > 59 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert_eq!(parse_time_of_day("08:30"), Ok(8 * 3600 + 30 * 60));
        assert_eq!(parse_time_of_day("08:30:15"), Ok(8 * 3600 + 30 * 60 + 15));
        assert_eq!(parse_time_of_day("24:00"), Ok(86_400));
        assert_eq!(
            parse_time_of_day("2024-01-01T17:00:00.0000000+01:00"),
            Ok(17 * 3600)
        );
        assert_eq!(parse_time_of_day("0001-01-01T00:00:00"), Ok(0));
        assert!(parse_time_of_day("25:00").is_err());
        assert!(parse_time_of_day("24:01").is_err());
        assert!(parse_time_of_day("").is_err());
        assert!(parse_time_of_day("nine").is_err());
        assert!(parse_time_of_day("é:00").is_err());
    }
}
