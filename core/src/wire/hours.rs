//! The opening hours carrier.

use super::raw::TimeZoneData;

carrier! {
    /// `ChatOpeningHours`: when a topic is open (the rule:
    /// [`crate::guide::time_and_sweeps`]).
    ///
    /// Start/Stop/Lunch strings are kept as given; only their time part
    /// counts (`HH:MM[:SS]` or the wall-clock part of a date-time).
    ChatOpeningHours {
        /// The zone the hours are in; `TZLocationCode` names it (IANA). Kept
        /// as received; `None` (null) or an empty code means UTC.
        "TzLocation" => tz_location: Option<TimeZoneData>,
        /// Whether the topic opens on Monday.
        "MonEnabled" => mon_enabled: bool,
        /// Monday's opening time.
        "MonStart" => mon_start: String,
        /// Monday's closing time (`24:00` allowed).
        "MonStop" => mon_stop: String,
        /// Whether the topic opens on Tuesday.
        "TueEnabled" => tue_enabled: bool,
        /// Tuesday's opening time.
        "TueStart" => tue_start: String,
        /// Tuesday's closing time (`24:00` allowed).
        "TueStop" => tue_stop: String,
        /// Whether the topic opens on Wednesday.
        "WedEnabled" => wed_enabled: bool,
        /// Wednesday's opening time.
        "WedStart" => wed_start: String,
        /// Wednesday's closing time (`24:00` allowed).
        "WedStop" => wed_stop: String,
        /// Whether the topic opens on Thursday.
        "ThuEnabled" => thu_enabled: bool,
        /// Thursday's opening time.
        "ThuStart" => thu_start: String,
        /// Thursday's closing time (`24:00` allowed).
        "ThuStop" => thu_stop: String,
        /// Whether the topic opens on Friday.
        "FriEnabled" => fri_enabled: bool,
        /// Friday's opening time.
        "FriStart" => fri_start: String,
        /// Friday's closing time (`24:00` allowed).
        "FriStop" => fri_stop: String,
        /// Whether the topic opens on Saturday.
        "SatEnabled" => sat_enabled: bool,
        /// Saturday's opening time.
        "SatStart" => sat_start: String,
        /// Saturday's closing time (`24:00` allowed).
        "SatStop" => sat_stop: String,
        /// Whether the topic opens on Sunday.
        "SunEnabled" => sun_enabled: bool,
        /// Sunday's opening time.
        "SunStart" => sun_start: String,
        /// Sunday's closing time (`24:00` allowed).
        "SunStop" => sun_stop: String,
        /// Whether the lunch break applies.
        "UseLunchHours" => use_lunch_hours: bool,
        /// Start of the lunch break.
        "LunchStart" => lunch_start: String,
        /// End of the lunch break.
        "LunchStop" => lunch_stop: String,
    }
}
