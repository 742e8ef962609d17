//! Opening hours and time zones.

use super::Fixture;
use crate::storage::Storage;
use crate::wire::{ChatOpeningHours, TimeZoneData};
use crate::{Caller, TopicId};
use chrono::{TimeZone, Utc};

fn zone(code: &str) -> Option<TimeZoneData> {
    let json = serde_json::json!({ "TZLocationID": 1, "TZLocationCode": code });
    Some(TimeZoneData::from_map(json.as_object().cloned().unwrap()).unwrap())
}

fn topic<S: Storage>(fx: &Fixture<S>, edit: impl FnOnce(&mut ChatOpeningHours)) -> TopicId {
    fx.topic_with("hours", |t| {
        t.opening_hours_enabled = true;
        edit(&mut t.opening_hours);
    })
}

/// Whether `t` is open at the UTC instant (y, mo, d, h, mi, s).
fn open_at<S: Storage>(
    fx: &Fixture<S>,
    t: TopicId,
    (y, mo, d): (i32, u32, u32),
    (h, mi, s): (u32, u32, u32),
) -> bool {
    fx.clock
        .set(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap());
    fx.desk
        .is_within_opening_hours(&Caller::anonymous(), t)
        .unwrap()
}

pub fn opening_hours_across_dst_changes<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    // 2024-03-31 (Sunday) in Oslo: 02:00 CET jumps to 03:00 CEST, so 02:30
    // never happens on the wall clock.
    let spring = topic(&fx, |oh| {
        oh.tz_location = zone("Europe/Oslo");
        oh.sun_enabled = true;
        oh.sun_start = "02:30".into();
        oh.sun_stop = "03:30".into();
    });
    assert!(
        !open_at(&fx, spring, (2024, 3, 31), (0, 59, 59)),
        "01:59:59 CET"
    );
    assert!(
        open_at(&fx, spring, (2024, 3, 31), (1, 0, 0)),
        "03:00 CEST is after the start"
    );
    assert!(
        open_at(&fx, spring, (2024, 3, 31), (1, 29, 59)),
        "03:29:59 CEST"
    );
    assert!(
        !open_at(&fx, spring, (2024, 3, 31), (1, 30, 0)),
        "03:30 CEST is the stop"
    );
    // 2024-10-27 (Sunday): 03:00 CEST falls back to 02:00 CET, so 02:00–03:00
    // happens twice: open for two real hours.
    let autumn = topic(&fx, |oh| {
        oh.tz_location = zone("Europe/Oslo");
        oh.sun_enabled = true;
        oh.sun_start = "02:00".into();
        oh.sun_stop = "03:00".into();
    });
    assert!(
        !open_at(&fx, autumn, (2024, 10, 26), (23, 59, 59)),
        "01:59:59 CEST"
    );
    assert!(
        open_at(&fx, autumn, (2024, 10, 27), (0, 0, 0)),
        "02:00 CEST"
    );
    assert!(
        open_at(&fx, autumn, (2024, 10, 27), (0, 30, 0)),
        "02:30 CEST, the first time"
    );
    assert!(
        open_at(&fx, autumn, (2024, 10, 27), (1, 30, 0)),
        "02:30 CET, the second time"
    );
    assert!(
        !open_at(&fx, autumn, (2024, 10, 27), (2, 0, 0)),
        "03:00 CET"
    );
    // A zone without DST: Tokyo is always UTC+9.
    let tokyo = topic(&fx, |oh| {
        oh.tz_location = zone("Asia/Tokyo");
        oh.mon_enabled = true;
        oh.mon_start = "09:00".into();
        oh.mon_stop = "17:00".into();
    });
    assert!(
        !open_at(&fx, tokyo, (2023, 12, 31), (23, 59, 59)),
        "08:59:59 JST Monday"
    );
    assert!(
        open_at(&fx, tokyo, (2024, 1, 1), (0, 0, 0)),
        "09:00 JST Monday"
    );
    assert!(!open_at(&fx, tokyo, (2024, 1, 1), (8, 0, 0)), "17:00 JST");
    assert!(!open_at(&fx, tokyo, (2024, 7, 1), (12, 0, 0)), "21:00 JST");
    assert!(
        open_at(&fx, tokyo, (2024, 7, 1), (7, 0, 0)),
        "16:00 JST in summer too"
    );
}

pub fn opening_hours_days_lunch_and_midnight<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    // No zone: UTC. 2024-01-01 is a Monday.
    let t = topic(&fx, |oh| {
        oh.mon_enabled = true;
        oh.mon_start = "2020-06-01T08:00:00".into(); // the wall-clock part counts
        oh.mon_stop = "16:00:00".into();
        oh.tue_enabled = true;
        oh.tue_start = "20:00".into();
        oh.tue_stop = "24:00".into();
        oh.wed_enabled = true;
        oh.wed_start = "12:00".into();
        oh.wed_stop = "09:00".into(); // stop before start: closed all day
        oh.thu_enabled = false;
        oh.thu_start = "not read".into();
        oh.use_lunch_hours = true;
        oh.lunch_start = "11:30".into();
        oh.lunch_stop = "12:00".into();
    });
    assert!(!open_at(&fx, t, (2024, 1, 1), (7, 59, 59)));
    assert!(open_at(&fx, t, (2024, 1, 1), (8, 0, 0)));
    assert!(open_at(&fx, t, (2024, 1, 1), (11, 29, 59)));
    assert!(!open_at(&fx, t, (2024, 1, 1), (11, 30, 0)), "lunch");
    assert!(!open_at(&fx, t, (2024, 1, 1), (11, 59, 59)), "lunch");
    assert!(open_at(&fx, t, (2024, 1, 1), (12, 0, 0)));
    assert!(!open_at(&fx, t, (2024, 1, 1), (16, 0, 0)));
    assert!(
        open_at(&fx, t, (2024, 1, 2), (23, 59, 59)),
        "Stop 24:00 includes the last second"
    );
    assert!(
        !open_at(&fx, t, (2024, 1, 3), (0, 0, 0)),
        "Wednesday: stop before start"
    );
    assert!(!open_at(&fx, t, (2024, 1, 3), (12, 30, 0)));
    assert!(
        !open_at(&fx, t, (2024, 1, 4), (12, 0, 0)),
        "Thursday is off"
    );
    // LunchStop ≤ LunchStart: no lunch break; an empty zone code is UTC.
    let no_lunch = topic(&fx, |oh| {
        oh.tz_location = zone("");
        oh.mon_enabled = true;
        oh.mon_start = "08:00".into();
        oh.mon_stop = "16:00".into();
        oh.use_lunch_hours = true;
        oh.lunch_start = "12:00".into();
        oh.lunch_stop = "12:00".into();
    });
    assert!(open_at(&fx, no_lunch, (2024, 1, 1), (12, 0, 0)));
    // Hours switched off: always open, whatever the times say.
    let off = fx.topic_with("off", |t| {
        t.opening_hours.mon_start = "garbage".into();
    });
    assert!(open_at(&fx, off, (2024, 1, 6), (3, 0, 0)));
    // Lunch times are read (and refused) only when UseLunchHours is on.
    let mut e = fx.desk.get_chat_topic_entity(&fx.sys(), no_lunch).unwrap();
    e.opening_hours.lunch_start = "noon".into();
    match fx.desk.save_chat_topic_entity(&fx.sys(), &e) {
        Err(crate::Error::Validation { field, .. }) => assert_eq!(field, "OpeningHours.LunchStart"),
        other => panic!("expected Validation, got {other:?}"),
    }
    e.opening_hours.use_lunch_hours = false;
    fx.desk.save_chat_topic_entity(&fx.sys(), &e).unwrap();
}
