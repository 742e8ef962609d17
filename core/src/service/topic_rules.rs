//! The parts of a topic's settings the rules read, parsed once.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::hours::{Span, WeekHours, parse_time_of_day};
use crate::wire::{ChatOpeningHours, ChatTopicEntity};
use chrono_tz::Tz;

/// Reads the opening hours of a topic; `Ok(None)` when they are off (always open).
///
/// # Errors
/// Validation naming the first field that is read and does not parse.
pub(crate) fn week_hours(topic: &ChatTopicEntity) -> Result<Option<WeekHours>> {
    if !topic.opening_hours_enabled {
        return Ok(None);
    }
    let oh: &ChatOpeningHours = &topic.opening_hours;
    let zone: Tz = match oh.tz_location.as_ref().and_then(|z| z.location_code()) {
        None | Some("") => Tz::UTC,
        Some(code) => code.parse().map_err(|_| {
            Error::validation(
                "OpeningHours.TzLocation.TZLocationCode",
                format!("{code:?} is not an IANA time zone"),
            )
        })?,
    };
    let day = |name: &str, enabled: bool, start: &str, stop: &str| -> Result<Option<Span>> {
        if !enabled {
            return Ok(None);
        }
        let start = parse_time_of_day(start)
            .map_err(|r| Error::validation(format!("OpeningHours.{name}Start"), r))?;
        let stop = parse_time_of_day(stop)
            .map_err(|r| Error::validation(format!("OpeningHours.{name}Stop"), r))?;
        Ok(Some(Span { start, stop }))
    };
    let days = [
        day("Mon", oh.mon_enabled, &oh.mon_start, &oh.mon_stop)?,
        day("Tue", oh.tue_enabled, &oh.tue_start, &oh.tue_stop)?,
        day("Wed", oh.wed_enabled, &oh.wed_start, &oh.wed_stop)?,
        day("Thu", oh.thu_enabled, &oh.thu_start, &oh.thu_stop)?,
        day("Fri", oh.fri_enabled, &oh.fri_start, &oh.fri_stop)?,
        day("Sat", oh.sat_enabled, &oh.sat_start, &oh.sat_stop)?,
        day("Sun", oh.sun_enabled, &oh.sun_start, &oh.sun_stop)?,
    ];
    let lunch = if oh.use_lunch_hours {
        let start = parse_time_of_day(&oh.lunch_start)
            .map_err(|r| Error::validation("OpeningHours.LunchStart", r))?;
        let stop = parse_time_of_day(&oh.lunch_stop)
            .map_err(|r| Error::validation("OpeningHours.LunchStop", r))?;
        Some(Span { start, stop })
    } else {
        None
    };
    Ok(Some(WeekHours { zone, days, lunch }))
}

/// Whether the topic is open at `now`. Settings are validated on
/// save, so a parse failure here can only come from an older store: it counts
/// as closed.
pub(crate) fn is_open(topic: &ChatTopicEntity, now: Timestamp) -> bool {
    match week_hours(topic) {
        Ok(None) => true,
        Ok(Some(h)) => h.is_open(now),
        Err(_) => false,
    }
}
