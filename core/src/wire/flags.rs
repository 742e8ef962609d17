//! Flag enums, written and parsed as .NET does (deterministic).
//!
//! One formatter and one parser serve every flag type; each type only brings
//! its name table, in SuperOffice's order.

use std::fmt;

/// Why a flag value did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagParseError {
    /// The text was empty, or a comma-separated list held an empty name.
    #[error("empty name in {type_name} value {input:?}; write None or names separated by commas")]
    Empty {
        /// The flag type being parsed.
        type_name: &'static str,
        /// The whole text given.
        input: String,
    },
    /// A name that the flag type does not have (numbers are not accepted).
    #[error("unknown {type_name} name {name:?}; expected names such as {expected}")]
    UnknownName {
        /// The flag type being parsed.
        type_name: &'static str,
        /// The offending name, trimmed.
        name: String,
        /// The names the type has, comma-separated.
        expected: String,
    },
}

/// A flag type's names and values, in SuperOffice's order.
#[derive(Debug)]
pub(crate) struct FlagTable {
    /// The wire type name, for error messages.
    pub(crate) type_name: &'static str,
    /// Names and values, listed order. Several names may share a value.
    pub(crate) names: &'static [(&'static str, u32)],
    /// Names that win a tie over an earlier-listed name of the same value
    /// (FieldRight writes 3 as `FULL`, not `Update`).
    pub(crate) preferred: &'static [&'static str],
}

impl FlagTable {
    /// Every bit some name covers.
    pub(crate) fn covered_bits(&self) -> u32 {
        self.names.iter().fold(0, |acc, &(_, v)| acc | v)
    }

    /// Whether `bits` holds only bits that some name covers.
    pub(crate) fn is_valid(&self, bits: u32) -> bool {
        bits & !self.covered_bits() == 0
    }

    /// Whether the name at `candidate` beats the name at `best` (both of the
    /// same value): the preferred one wins, else the one listed first.
    fn wins_tie(&self, candidate: &str, best: &str) -> bool {
        self.preferred.contains(&candidate) && !self.preferred.contains(&best)
    }

    /// Writes `bits` as .NET writes a flag enum.
    ///
    /// 0 is the zero-valued name (`None`). Otherwise greedy: repeatedly take
    /// the largest-valued name whose bits all lie in what remains, ties going
    /// to the preferred name, else the first listed; the chosen names are
    /// written in ascending value order, joined by `", "`. The "exact name"
    /// step is the greedy's first pick: a name equal to the whole
    /// mask is the largest that fits, and then nothing remains. For example
    /// TableRight 47 is `Select, Delete, WRITE` (WRITE 38 is the largest name
    /// inside 47; 9 remains, giving Delete then Select).
    ///
    /// Bits that no name covers are left out; the flag types never hold them.
    pub(crate) fn format(&self, bits: u32) -> String {
        if bits == 0 {
            return self
                .names
                .iter()
                .find(|&&(_, v)| v == 0)
                .map_or("None", |&(n, _)| n)
                .to_owned();
        }
        let mut remaining = bits;
        let mut chosen: Vec<(&'static str, u32)> = Vec::new();
        while remaining != 0 {
            let mut best: Option<(&'static str, u32)> = None;
            for &(name, value) in self.names {
                if value == 0 || value & !remaining != 0 {
                    continue;
                }
                best = match best {
                    Some((bn, bv)) if bv > value || (bv == value && !self.wins_tie(name, bn)) => {
                        Some((bn, bv))
                    }
                    _ => Some((name, value)),
                };
            }
            let Some((name, value)) = best else { break };
            chosen.push((name, value));
            remaining &= !value;
        }
        chosen.sort_by_key(|&(_, v)| v);
        let mut out = String::new();
        for (i, (name, _)) in chosen.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
        }
        out
    }

    /// Parses names (any name or a comma-separated list, any order,
    /// case-insensitive, spaces optional around commas) and ORs them.
    pub(crate) fn parse(&self, input: &str) -> Result<u32, FlagParseError> {
        let mut bits = 0;
        for part in input.split(',') {
            let name = part.trim();
            if name.is_empty() {
                return Err(FlagParseError::Empty {
                    type_name: self.type_name,
                    input: input.to_owned(),
                });
            }
            let Some(&(_, value)) = self
                .names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            else {
                return Err(FlagParseError::UnknownName {
                    type_name: self.type_name,
                    name: name.to_owned(),
                    expected: self.expected(),
                });
            };
            bits |= value;
        }
        Ok(bits)
    }

    fn expected(&self) -> String {
        let names: Vec<&str> = self.names.iter().map(|&(n, _)| n).collect();
        names.join(", ")
    }
}

/// Defines a flag newtype over `u32` with its name table.
macro_rules! flag_type {
    (
        $(#[$meta:meta])*
        $ty:ident = $wire:literal, preferred [$($pref:literal),*] {
            $($konst:ident = $name:literal : $val:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $ty(u32);

        impl $ty {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($val), ").")]
                pub const $konst: Self = Self($val);
            )+

            /// The names and values, in SuperOffice's order (where two names
            /// share a value, the first listed is written).
            pub const NAMES: &'static [(&'static str, u32)] = &[$(($name, $val)),+];

            const TABLE: $crate::wire::flags::FlagTable = $crate::wire::flags::FlagTable {
                type_name: $wire,
                names: Self::NAMES,
                preferred: &[$($pref),*],
            };

            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// The value with these bits, or `None` when a bit is set that no
            /// name covers.
            pub fn from_bits(bits: u32) -> Option<Self> {
                Self::TABLE.is_valid(bits).then_some(Self(bits))
            }

            /// Whether every bit of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether no bit is set (the value is `None`).
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
        }

        impl ::std::ops::BitOr for $ty {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl ::std::ops::BitOrAssign for $ty {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&Self::TABLE.format(self.0))
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), Self::TABLE.format(self.0))
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::wire::flags::FlagParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::TABLE.parse(s).map(Self)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::wire::flags::FromStrVisitor::<Self>::new($wire))
            }
        }
    };
}

flag_type! {
    /// ETableRight: what a caller may do with a row (see
    /// [`crate::guide::rights`]).
    TableRightMask = "ETableRight", preferred [] {
        NONE = "None": 0,
        SELECT = "Select": 1,
        UPDATE = "Update": 2,
        INSERT = "Insert": 4,
        DELETE = "Delete": 8,
        FILTERING = "Filtering": 16,
        RESTRICTED_UPDATE = "RestrictedUpdate": 32,
        UNUSED1 = "Unused1": 64,
        UNINITIALIZED = "Uninitialized": 128,
        FULL = "FULL": 15,
        WRITE = "WRITE": 38,
        URU = "URU": 34,
        UDR = "UDR": 11,
        UR = "UR": 3,
        URI = "URI": 7,
        R = "R": 1,
        RI = "RI": 5,
        RF = "RF": 17,
        F = "F": 16,
        FI = "FI": 20,
    }
}

flag_type! {
    /// EFieldRight: what a caller may do with one field (see
    /// [`crate::guide::rights`]).
    /// 3 is written `FULL` (not `Update`), as in the seed sample.
    FieldRightMask = "EFieldRight", preferred ["FULL"] {
        NONE = "None": 0,
        READ = "Read": 1,
        WRITE = "Write": 2,
        UPDATE = "Update": 3,
        UNUSED1 = "Unused1": 4,
        UNUSED2 = "Unused2": 8,
        UNUSED3 = "Unused3": 16,
        NULLABLE = "Nullable": 32,
        UNUSED4 = "Unused4": 32,
        UI_HINT_MANDATORY = "UIHintMandatory": 64,
        UI_HINT_READ_ONLY = "UIHintReadOnly": 128,
        FULL = "FULL": 3,
        UI_HINTS = "UIHints": 192,
    }
}

flag_type! {
    /// The customer fields of a widget's `RequiredFields` / `OfflineFields`.
    CustomerFieldFlags = "CustomerFieldFlags", preferred [] {
        NONE = "None": 0,
        EMAIL = "Email": 1,
        NAME = "Name": 2,
        COMPANY = "Company": 4,
        PHONE = "Phone": 8,
        COUNTRY = "Country": 16,
    }
}

/// A serde visitor that takes a string and parses it with `FromStr`, turning
/// a parse failure into a serde error (never a panic).
pub(crate) struct FromStrVisitor<T> {
    expecting: &'static str,
    marker: std::marker::PhantomData<fn() -> T>,
}

impl<T> FromStrVisitor<T> {
    pub(crate) fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            marker: std::marker::PhantomData,
        }
    }
}

impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} name string", self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let fr = |b| FieldRightMask::from_bits(b).map(|m| m.to_string());
        let tr = |b| TableRightMask::from_bits(b).map(|m| m.to_string());
        assert_eq!(fr(67).as_deref(), Some("FULL, UIHintMandatory"));
        assert_eq!(fr(33).as_deref(), Some("Read, Nullable"));
        assert_eq!(fr(35).as_deref(), Some("FULL, Nullable"));
        assert_eq!(fr(3).as_deref(), Some("FULL"));
        assert_eq!(fr(0).as_deref(), Some("None"));
        assert_eq!(fr(192).as_deref(), Some("UIHints"));
        assert_eq!(tr(9).as_deref(), Some("Select, Delete"));
        assert_eq!(tr(1).as_deref(), Some("Select"));
        assert_eq!(tr(16).as_deref(), Some("Filtering"));
        assert_eq!(tr(15).as_deref(), Some("FULL"));
        assert_eq!(tr(3).as_deref(), Some("UR"));
        assert_eq!(tr(11).as_deref(), Some("UDR"));
        assert_eq!(tr(8).as_deref(), Some("Delete"));
        assert_eq!(tr(47).as_deref(), Some("Select, Delete, WRITE"));
        // Greedy: 128, 64, then WRITE (38) leaves 25, where RF (17) is the
        // largest name that fits, then Delete.
        assert_eq!(
            tr(255).as_deref(),
            Some("Delete, RF, WRITE, Unused1, Uninitialized")
        );
        assert_eq!(tr(17).as_deref(), Some("RF"));
        assert_eq!(tr(20).as_deref(), Some("FI"));
        assert_eq!(
            CustomerFieldFlags::from_bits(3)
                .map(|m| m.to_string())
                .as_deref(),
            Some("Email, Name")
        );
    }

    #[test]
    fn uncovered_bits_are_refused() {
        assert_eq!(TableRightMask::from_bits(256), None);
        assert_eq!(FieldRightMask::from_bits(1 << 31), None);
        assert_eq!(CustomerFieldFlags::from_bits(32), None);
        assert!(CustomerFieldFlags::from_bits(31).is_some());
    }

    #[test]
    fn parse_rules() {
        let p = |s: &str| s.parse::<TableRightMask>().map(TableRightMask::bits);
        assert_eq!(p("delete ,select"), Ok(9));
        assert_eq!(p("FULL,Delete"), Ok(15));
        assert_eq!(p("none"), Ok(0));
        assert!(p("").is_err());
        assert!(p("Select,").is_err());
        assert!(p("1").is_err());
        assert!(p("Selectx").is_err());
    }
}
