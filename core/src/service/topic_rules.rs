//! The parts of a topic's settings the rules read, parsed once.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::hours::{Span, WeekHours, parse_time_of_day};
use crate::wire::{ChatOpeningHours, ChatTopicEntity};
use chrono_tz::Tz;

/// The longest name-like texts (names, titles, colours, fonts, codes and
/// times) and the longest free texts of a topic, in characters.
pub(crate) const SHORT_TEXT: usize = 255;
pub(crate) const LONG_TEXT: usize = 4000;

fn len(field: &str, text: &str, max: usize) -> Result<()> {
    let n = text.chars().count();
    if n > max {
        return Err(Error::validation(
            field,
            format!("{n} characters; at most {max}"),
        ));
    }
    Ok(())
}

/// Checks a topic's texts against their limits and its opening hours, in
/// carrier order: the first failing field decides.
///
/// # Errors
/// Validation naming the field (nested fields as `Widget.Color`).
pub(crate) fn check_topic(t: &ChatTopicEntity) -> Result<()> {
    len("Name", &t.name, SHORT_TEXT)?;
    len("Description", &t.description, LONG_TEXT)?;
    len("WelcomeMessage", &t.welcome_message, LONG_TEXT)?;
    len("AlertRecipient", &t.alert_recipient, SHORT_TEXT)?;
    len("BadgeHeader", &t.badge_header, SHORT_TEXT)?;
    len("CustomQueueText", &t.custom_queue_text, LONG_TEXT)?;
    let oh = &t.opening_hours;
    for (name, text) in [
        ("MonStart", &oh.mon_start),
        ("MonStop", &oh.mon_stop),
        ("TueStart", &oh.tue_start),
        ("TueStop", &oh.tue_stop),
        ("WedStart", &oh.wed_start),
        ("WedStop", &oh.wed_stop),
        ("ThuStart", &oh.thu_start),
        ("ThuStop", &oh.thu_stop),
        ("FriStart", &oh.fri_start),
        ("FriStop", &oh.fri_stop),
        ("SatStart", &oh.sat_start),
        ("SatStop", &oh.sat_stop),
        ("SunStart", &oh.sun_start),
        ("SunStop", &oh.sun_stop),
        ("LunchStart", &oh.lunch_start),
        ("LunchStop", &oh.lunch_stop),
    ] {
        len(&format!("OpeningHours.{name}"), text, SHORT_TEXT)?;
    }
    week_hours(t)?;
    let w = &t.widget;
    for (name, text, max) in [
        ("PreFormMessage", &w.pre_form_message, LONG_TEXT),
        ("PostFormHeader", &w.post_form_header, SHORT_TEXT),
        ("PostFormMessage", &w.post_form_message, LONG_TEXT),
        ("LanguageIsoCode", &w.language_iso_code, SHORT_TEXT),
        ("Color", &w.color, SHORT_TEXT),
        ("BadgeColor", &w.badge_color, SHORT_TEXT),
        ("BadgeTextColor", &w.badge_text_color, SHORT_TEXT),
        ("CustMsgColor", &w.cust_msg_color, SHORT_TEXT),
        ("CustMsgTextColor", &w.cust_msg_text_color, SHORT_TEXT),
        ("AgentMsgColor", &w.agent_msg_color, SHORT_TEXT),
        ("AgentMsgTextColor", &w.agent_msg_text_color, SHORT_TEXT),
        ("ButtonColor", &w.button_color, SHORT_TEXT),
        ("ButtonTextColor", &w.button_text_color, SHORT_TEXT),
        ("Font", &w.font, SHORT_TEXT),
        ("FontSize", &w.font_size, SHORT_TEXT),
        ("LogoName", &w.logo_name, SHORT_TEXT),
        ("WelcomeTitle", &w.welcome_title, SHORT_TEXT),
        ("WelcomeMessage", &w.welcome_message, LONG_TEXT),
        ("OfflineHeader", &w.offline_header, SHORT_TEXT),
        ("OfflineMessage", &w.offline_message, LONG_TEXT),
    ] {
        len(&format!("Widget.{name}"), text, max)?;
    }
    len("BotSettings.BotName", &t.bot_settings.bot_name, SHORT_TEXT)?;
    len("WidgetRatingText", &t.widget_rating_text, SHORT_TEXT)
}

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
