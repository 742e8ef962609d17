//! Time: an injectable clock and the stored timestamp type (UTC, 100 ns ticks).

use chrono::{DateTime, TimeZone, Utc};
use parking_lot::Mutex;
use std::sync::Arc;

/// A UTC instant in 100 ns ticks since 1970-01-01T00:00:00Z: the one time type
/// the store keeps, so every backend gives back the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const TICKS_PER_SEC: i64 = 10_000_000;

impl Timestamp {
    /// From a chrono instant, truncated to 100 ns (toward the past).
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let secs = dt.timestamp();
        let sub = i64::from(dt.timestamp_subsec_nanos()) / 100;
        Timestamp(secs.saturating_mul(TICKS_PER_SEC).saturating_add(sub))
    }

    /// As a chrono instant (None if out of chrono's range).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        let secs = self.0.div_euclid(TICKS_PER_SEC);
        let nanos = u32::try_from(self.0.rem_euclid(TICKS_PER_SEC) * 100).ok()?;
        Utc.timestamp_opt(secs, nanos).single()
    }

    /// From whole seconds since the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(TICKS_PER_SEC))
    }

    /// Whole seconds of `self - earlier`, truncated toward zero; negative
    /// durations count as 0 (clocks jump).
    pub fn whole_seconds_since(self, earlier: Timestamp) -> i64 {
        (self.0.saturating_sub(earlier.0) / TICKS_PER_SEC).max(0)
    }

    /// `self - earlier` in ticks, negative durations as 0.
    pub fn ticks_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0).max(0)
    }

    /// This instant plus whole seconds.
    pub fn plus_seconds(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(TICKS_PER_SEC)))
    }
}

/// Ticks in one second (100 ns ticks).
pub(crate) const fn ticks_per_second() -> i64 {
    TICKS_PER_SEC
}

/// Where "now" comes from. The service never reads the system time directly,
/// so tests drive time with [`ManualClock`].
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant, truncated to 100 ns ticks.
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // Straight from the Unix-epoch duration: no calendar conversion on a
        // path every operation takes.
        let ticks = |d: std::time::Duration| {
            i64::try_from(d.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_mul(TICKS_PER_SEC)
                .saturating_add(i64::from(d.subsec_nanos() / 100))
        };
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => Timestamp(ticks(after)),
            // Before 1970: truncate toward the past, as from_datetime does.
            Err(e) => {
                let d = e.duration();
                let whole = Timestamp(0i64.saturating_sub(ticks(d)));
                if d.subsec_nanos() % 100 == 0 {
                    whole
                } else {
                    Timestamp(whole.0.saturating_sub(1))
                }
            }
        }
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(Timestamp::from_datetime(start))),
        }
    }

    /// A clock standing at 2024-01-01T09:00:00Z (a Monday).
    pub fn at_default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(Timestamp::from_unix_seconds(1_704_099_600))),
        }
    }

    /// Sets the time (it may go backwards: clocks jump).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock() = Timestamp::from_datetime(to);
    }

    /// Moves the time by whole seconds (negative goes back).
    pub fn advance_secs(&self, secs: i64) {
        let mut now = self.now.lock();
        *now = now.plus_seconds(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::{Clock, SystemClock, Timestamp};
    use chrono::Utc;

    #[test]
    fn system_clock_agrees_with_chrono() {
        for _ in 0..1000 {
            let before = Timestamp::from_datetime(Utc::now());
            let now = SystemClock.now();
            let after = Timestamp::from_datetime(Utc::now());
            assert!(
                before <= now && now <= after,
                "{before:?} {now:?} {after:?}"
            );
        }
    }
}
