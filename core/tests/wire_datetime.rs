//! WireDateTime: written with 7 fractional digits and the offset
//! held; random instants and offsets round-trip exactly.

use chatdesk::{UNSET_WIRE, WireDateTime};
use chrono::{DateTime, FixedOffset, Offset, Utc};
use proptest::prelude::*;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in Unix seconds.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Keep a day's margin at both ends so that every offset stays in 0001-9999.
    (MIN_SECS + 86_400..=MAX_SECS - 86_400, 0u32..10_000_000)
        .prop_filter_map("in range", |(s, ticks)| {
            DateTime::from_timestamp(s, ticks * 100)
        })
}

fn offset() -> impl Strategy<Value = FixedOffset> {
    (-(23 * 60 + 59)..=(23 * 60 + 59))
        .prop_filter_map("offset", |m: i32| FixedOffset::east_opt(m * 60))
}

proptest! {
    #[test]
    fn random_instants_and_offsets_round_trip(utc in instant(), off in offset()) {
        let value = WireDateTime::from_utc(utc, off);
        let text = value.to_wire().unwrap();
        prop_assert_eq!(text.len(), "2001-09-08T18:25:50.1896249+02:00".len(), "{}", &text);
        prop_assert_eq!(&text[19..20], ".");
        let back = WireDateTime::parse(&text).unwrap();
        prop_assert_eq!(back, value);
        prop_assert_eq!(back.to_utc(), Some(utc));
        let WireDateTime::At(dt) = back else { panic!("unset") };
        prop_assert_eq!(dt.offset().fix(), off);
        prop_assert_eq!(back.to_wire().unwrap(), text.clone());
        // serde, inside JSON
        let json = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(&json, &format!("\"{text}\""));
        prop_assert_eq!(serde_json::from_str::<WireDateTime>(&json).unwrap(), value);
    }

    #[test]
    fn any_fraction_length_is_truncated_to_ticks(
        utc in instant(),
        digits in "[0-9]{1,15}",
    ) {
        let base = utc.format("%Y-%m-%dT%H:%M:%S").to_string();
        let text = format!("{base}.{digits}Z");
        let parsed = WireDateTime::parse(&text).unwrap();
        let mut seven: String = digits.chars().take(7).collect();
        while seven.len() < 7 {
            seven.push('0');
        }
        let expected = format!("{base}.{seven}+00:00");
        prop_assert_eq!(parsed.to_wire().unwrap(), expected);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,40}") {
        let _ = WireDateTime::parse(&text);
        let _ = serde_json::from_str::<WireDateTime>(&serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn near_misses_never_panic(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,9})?(Z|[+-][0-9]{2}:[0-9]{2})?") {
        if let Ok(v) = WireDateTime::parse(&text) {
            // Whatever parses writes and parses back to the same value.
            let w = v.to_wire().unwrap();
            prop_assert_eq!(WireDateTime::parse(&w).unwrap(), v);
        }
    }
}

#[test]
fn unset() {
    assert_eq!(WireDateTime::default(), WireDateTime::Unset);
    assert_eq!(WireDateTime::Unset.to_wire().unwrap(), UNSET_WIRE);
    assert_eq!(
        serde_json::to_string(&WireDateTime::Unset).unwrap(),
        "\"0001-01-01T00:00:00\""
    );
    for json in [
        "null",
        "\"0001-01-01T00:00:00\"",
        "\"0001-01-01T00:00:00.0000000+00:00\"",
        "\"0001-01-01T00:00:00Z\"",
    ] {
        assert_eq!(
            serde_json::from_str::<WireDateTime>(json).unwrap(),
            WireDateTime::Unset,
            "{json}"
        );
    }
    assert_eq!(WireDateTime::Unset.to_utc(), None);
    let min = DateTime::from_timestamp(MIN_SECS, 0).unwrap();
    assert_eq!(WireDateTime::from_utc(min, Utc.fix()), WireDateTime::Unset);
}

#[test]
fn offsets_written_as_held() {
    let utc = DateTime::parse_from_rfc3339("2001-09-08T16:25:50.18962495Z")
        .unwrap()
        .to_utc();
    let plus2 = FixedOffset::east_opt(7200).unwrap();
    let v = WireDateTime::from_utc(utc, plus2);
    assert_eq!(v.to_wire().unwrap(), "2001-09-08T18:25:50.1896249+02:00");
    let v = WireDateTime::from_utc(utc, Utc.fix());
    assert_eq!(v.to_wire().unwrap(), "2001-09-08T16:25:50.1896249+00:00");
    let minus = FixedOffset::west_opt(5 * 3600 + 30 * 60).unwrap();
    assert_eq!(
        WireDateTime::from_utc(utc, minus).to_wire().unwrap(),
        "2001-09-08T10:55:50.1896249-05:30"
    );
    // An offset with seconds is written in whole minutes, keeping the instant.
    let odd = FixedOffset::east_opt(53 * 60 + 28).unwrap();
    let text = WireDateTime::from_utc(utc, odd).to_wire().unwrap();
    assert_eq!(text, "2001-09-08T17:18:50.1896249+00:53");
    let ticks = WireDateTime::from_utc(utc, Utc.fix()).to_utc();
    assert_eq!(WireDateTime::parse(&text).unwrap().to_utc(), ticks);
}

#[test]
fn bad_values_are_errors() {
    for json in [
        "5",
        "true",
        "[]",
        "{}",
        "\"\"",
        "\"2001-09-08 18:25:50Z\"",
        "\"2001-09-08T18:25:50+0200\"",
    ] {
        assert!(
            serde_json::from_str::<WireDateTime>(json).is_err(),
            "{json}"
        );
    }
    // Years the wire cannot write are a serialization error, not a panic.
    let far = DateTime::from_timestamp(MAX_SECS + 86_400 * 400, 0).unwrap();
    let v = WireDateTime::from_utc(far, Utc.fix());
    assert!(v.to_wire().is_err());
    assert!(serde_json::to_string(&v).is_err());
}
