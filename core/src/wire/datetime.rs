//! Date-times on the wire: Unset, or a date-time with an offset,
//! written with 7 fractional digits (100 ns ticks) and the offset held.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};

/// How Unset is written (.NET's `DateTime.MinValue`).
pub const UNSET_WIRE: &str = "0001-01-01T00:00:00";

/// A carrier's date-time: Unset, or an instant with the offset it is shown in.
///
/// Equality and ordering compare instants (as chrono does), not offsets;
/// Unset sorts first. The instant 0001-01-01T00:00:00Z is Unset: it is
/// written as [`UNSET_WIRE`] and read back as `Unset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum WireDateTime {
    /// No date-time (written `0001-01-01T00:00:00`).
    #[default]
    Unset,
    /// An instant, shown in the held offset.
    At(DateTime<FixedOffset>),
}

/// Why a date-time did not parse or cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date-time {input:?}: {reason}")]
pub struct WireDateTimeError {
    /// The text given, or the value that cannot be written.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn min_instant() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MIN)
}

impl WireDateTime {
    /// The date-time `utc` shown in `offset`, truncated to 100 ns ticks
    /// (the precision the store keeps). The instant 0001-01-01T00:00:00Z gives
    /// `Unset`.
    pub fn from_utc(utc: DateTime<Utc>, offset: FixedOffset) -> Self {
        let ticks = utc.nanosecond() / 100 * 100;
        let utc = utc.with_nanosecond(ticks).unwrap_or(utc);
        if utc.naive_utc() == min_instant() {
            Self::Unset
        } else {
            Self::At(utc.with_timezone(&offset))
        }
    }

    /// The instant in UTC, or `None` when Unset.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Unset => None,
            Self::At(dt) => Some(dt.to_utc()),
        }
    }

    /// Whether this is Unset.
    pub fn is_unset(&self) -> bool {
        matches!(self, Self::Unset)
    }

    /// Parses the input forms: RFC 3339 with any number of fractional
    /// digits (more than 7 are truncated to ticks), `Z`, or no offset (UTC);
    /// [`UNSET_WIRE`], or any text naming the instant 0001-01-01T00:00:00Z,
    /// gives `Unset`. Leap seconds (`:60`) are refused, as .NET refuses them.
    ///
    /// # Errors
    /// [`WireDateTimeError`] when the text is not such a date-time.
    pub fn parse(input: &str) -> Result<Self, WireDateTimeError> {
        let err = |reason| WireDateTimeError {
            input: input.to_owned(),
            reason,
        };
        let mut c = Cursor {
            b: input.as_bytes(),
            i: 0,
        };
        let year = c.digits(4).ok_or_else(|| err("expected a 4-digit year"))?;
        c.want(b'-')
            .ok_or_else(|| err("expected '-' after the year"))?;
        let month = c.digits(2).ok_or_else(|| err("expected a 2-digit month"))?;
        c.want(b'-')
            .ok_or_else(|| err("expected '-' after the month"))?;
        let day = c.digits(2).ok_or_else(|| err("expected a 2-digit day"))?;
        if !(c.eat(b'T') || c.eat(b't')) {
            return Err(err("expected 'T' between date and time"));
        }
        let hour = c.digits(2).ok_or_else(|| err("expected a 2-digit hour"))?;
        c.want(b':')
            .ok_or_else(|| err("expected ':' after the hour"))?;
        let minute = c.digits(2).ok_or_else(|| err("expected 2-digit minutes"))?;
        c.want(b':')
            .ok_or_else(|| err("expected ':' after the minutes"))?;
        let second = c.digits(2).ok_or_else(|| err("expected 2-digit seconds"))?;
        let mut nanos = 0u32;
        if c.eat(b'.') {
            let mut n = 0usize;
            while let Some(d) = c.digit() {
                // Ticks: the first 7 digits count, the rest is truncated.
                if n < 7 {
                    nanos = nanos * 10 + d;
                }
                n += 1;
            }
            if n == 0 {
                return Err(err("expected digits after '.'"));
            }
            for _ in n..7 {
                nanos *= 10;
            }
            nanos *= 100;
        }
        let offset_secs: i32 = if c.eat(b'Z') || c.eat(b'z') {
            0
        } else if let Some(sign) = c.sign() {
            let oh = c
                .digits(2)
                .ok_or_else(|| err("expected 2-digit offset hours"))?;
            c.want(b':')
                .ok_or_else(|| err("expected ':' in the offset"))?;
            let om = c
                .digits(2)
                .ok_or_else(|| err("expected 2-digit offset minutes"))?;
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            sign * (oh as i32 * 3600 + om as i32 * 60)
        } else {
            0
        };
        if c.i != c.b.len() {
            return Err(err("unexpected text after the date-time"));
        }
        let naive = NaiveDate::from_ymd_opt(year as i32, month, day)
            .ok_or_else(|| err("no such date"))?
            .and_hms_nano_opt(hour, minute, second, nanos)
            .filter(|_| second < 60)
            .ok_or_else(|| err("no such time of day"))?;
        let offset = FixedOffset::east_opt(offset_secs).ok_or_else(|| err("bad offset"))?;
        let dt = offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| err("out of range"))?;
        if dt.naive_utc() == min_instant() {
            Ok(Self::Unset)
        } else {
            Ok(Self::At(dt))
        }
    }

    /// Writes the value as SuperOffice does: 7 fractional digits and the held
    /// offset (`+00:00`, never `Z`), or [`UNSET_WIRE`]. An offset with
    /// seconds is written rounded down to whole minutes (the instant is
    /// kept: the local time shown moves with it).
    ///
    /// # Errors
    /// [`WireDateTimeError`] when the local year is outside 0000–9999,
    /// which the wire format cannot express.
    pub fn to_wire(&self) -> Result<String, WireDateTimeError> {
        let Self::At(dt) = self else {
            return Ok(UNSET_WIRE.to_owned());
        };
        if dt.naive_utc() == min_instant() {
            return Ok(UNSET_WIRE.to_owned());
        }
        let secs = dt.offset().fix().local_minus_utc();
        let whole = secs - secs % 60;
        let dt = match FixedOffset::east_opt(whole) {
            Some(o) if whole != secs => dt.with_timezone(&o),
            _ => *dt,
        };
        let local = dt.naive_local();
        let year = chrono::Datelike::year(&local);
        if !(0..=9999).contains(&year) {
            return Err(WireDateTimeError {
                input: format!("{dt:?}"),
                reason: "year outside 0000-9999",
            });
        }
        // A leap second (nanos >= 1e9) is written as the last tick of :59.
        let ticks = local.nanosecond().min(999_999_999) / 100;
        let sign = if whole < 0 { '-' } else { '+' };
        let abs = whole.unsigned_abs();
        Ok(format!(
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ticks:07}{sign}{:02}:{:02}",
            chrono::Datelike::month(&local),
            chrono::Datelike::day(&local),
            local.hour(),
            local.minute(),
            local.second(),
            abs / 3600,
            abs % 3600 / 60,
        ))
    }
}

impl From<DateTime<FixedOffset>> for WireDateTime {
    fn from(dt: DateTime<FixedOffset>) -> Self {
        Self::At(dt)
    }
}

impl std::str::FromStr for WireDateTime {
    type Err = WireDateTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A byte cursor for the date-time parser.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digit(&mut self) -> Option<u32> {
        let d = *self.b.get(self.i)?;
        if d.is_ascii_digit() {
            self.i += 1;
            Some(u32::from(d - b'0'))
        } else {
            None
        }
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = v * 10 + self.digit()?;
        }
        Some(v)
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn want(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    fn sign(&mut self) -> Option<i32> {
        if self.eat(b'+') {
            Some(1)
        } else if self.eat(b'-') {
            Some(-1)
        } else {
            None
        }
    }
}

impl serde::Serialize for WireDateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.to_wire().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de> serde::Deserialize<'de> for WireDateTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(DateTimeVisitor)
    }
}

/// Accepts null (Unset) or a date-time string.
struct DateTimeVisitor;

impl<'de> serde::de::Visitor<'de> for DateTimeVisitor {
    type Value = WireDateTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date-time string or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<WireDateTime, E> {
        Ok(WireDateTime::Unset)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<WireDateTime, E> {
        Ok(WireDateTime::Unset)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<WireDateTime, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WireDateTime, E> {
        WireDateTime::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> String {
        WireDateTime::parse(s)
            .and_then(|d| d.to_wire())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn forms() {
        let s = "2001-09-08T18:25:50.1896249+02:00";
        assert_eq!(rt(s), s);
        assert_eq!(
            rt("2001-09-08T18:25:50Z"),
            "2001-09-08T18:25:50.0000000+00:00"
        );
        assert_eq!(
            rt("2001-09-08T18:25:50"),
            "2001-09-08T18:25:50.0000000+00:00"
        );
        assert_eq!(
            rt("2001-09-08T18:25:50.123456789-05:30"),
            "2001-09-08T18:25:50.1234567-05:30"
        );
        assert_eq!(
            rt("2001-09-08T18:25:50.5+00:00"),
            "2001-09-08T18:25:50.5000000+00:00"
        );
        for unset in [
            "0001-01-01T00:00:00",
            "0001-01-01T00:00:00.0000000",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00.000+00:00",
            "0001-01-01T02:00:00+02:00",
        ] {
            assert_eq!(
                WireDateTime::parse(unset),
                Ok(WireDateTime::Unset),
                "{unset}"
            );
        }
        for bad in [
            "",
            "2001-09-08",
            "2001-13-08T18:25:50Z",
            "2001-09-08T24:00:00Z",
            "2001-09-08T18:25:60Z",
            "2001-09-08T18:25:50.Z",
            "2001-09-08T18:25:50+2:00",
            "2001-09-08T18:25:50+24:00",
            "2001-09-08T18:25:50Zx",
            "２001-09-08T18:25:50Z",
        ] {
            assert!(WireDateTime::parse(bad).is_err(), "{bad}");
        }
    }
}
