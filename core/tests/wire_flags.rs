//! Flag masks: every valid value round-trips; parsing ignores case,
//! spaces and order; unknown names and uncovered bits are refused.

use chatdesk::{CustomerFieldFlags, FieldRightMask, TableRightMask};
use proptest::prelude::*;

/// Scrambles a list of names: random case per character, random spaces
/// around each name, in the given order.
fn scramble(names: &[&str], case: &[bool], spaces: &[(u8, u8)]) -> String {
    let mut parts = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut s = String::new();
        let (before, after) = spaces.get(i).copied().unwrap_or((0, 0));
        s.extend(std::iter::repeat_n(' ', usize::from(before % 3)));
        for (j, c) in name.chars().enumerate() {
            if case
                .get((i * 7 + j) % case.len().max(1))
                .copied()
                .unwrap_or(false)
            {
                s.extend(c.to_lowercase());
            } else {
                s.extend(c.to_uppercase());
            }
        }
        s.extend(std::iter::repeat_n(' ', usize::from(after % 3)));
        parts.push(s);
    }
    parts.join(",")
}

macro_rules! flag_tests {
    ($module:ident, $ty:ident) => {
        mod $module {
            use super::*;

            fn covered() -> u32 {
                $ty::NAMES.iter().fold(0, |acc, &(_, v)| acc | v)
            }

            fn value_of(name: &str) -> u32 {
                $ty::NAMES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|&(_, v)| v)
                    .unwrap()
            }

            #[test]
            fn every_valid_value_round_trips() {
                let mut valid = 0;
                for bits in 0..=1024u32 {
                    let Some(mask) = $ty::from_bits(bits) else {
                        assert_ne!(bits & !covered(), 0, "{bits} refused");
                        continue;
                    };
                    valid += 1;
                    assert_eq!(mask.bits(), bits);
                    let text = mask.to_string();
                    assert_eq!(text.parse::<$ty>().map($ty::bits), Ok(bits), "{text}");
                    // Names ascend by value, and only the zero value is "None".
                    let values: Vec<u32> = text.split(", ").map(value_of).collect();
                    assert!(values.windows(2).all(|w| w[0] < w[1]), "{text}");
                    assert_eq!(bits == 0, text == "None", "{text}");
                    // serde: a JSON string, and back.
                    let json = serde_json::to_string(&mask).unwrap();
                    assert_eq!(json, format!("\"{text}\""));
                    assert_eq!(serde_json::from_str::<$ty>(&json).unwrap(), mask);
                }
                assert_eq!(valid, covered() + 1);
            }

            #[test]
            fn non_strings_are_refused() {
                for bad in ["1", "null", "[]", "{}", "true", "\"\"", "\" , \""] {
                    assert!(serde_json::from_str::<$ty>(bad).is_err(), "{bad}");
                }
            }

            proptest! {
                #[test]
                fn from_bits_accepts_exactly_the_covered_bits(bits in any::<u32>()) {
                    prop_assert_eq!($ty::from_bits(bits).is_some(), bits & !covered() == 0);
                }

                #[test]
                fn parse_ignores_case_space_and_order(
                    picks in proptest::sample::subsequence(
                        (0..$ty::NAMES.len()).collect::<Vec<_>>(),
                        1..=$ty::NAMES.len(),
                    ).prop_shuffle(),
                    case in proptest::collection::vec(any::<bool>(), 1..16),
                    spaces in proptest::collection::vec(any::<(u8, u8)>(), 0..16),
                ) {
                    let names: Vec<&str> = picks.iter().map(|&i| $ty::NAMES[i].0).collect();
                    let bits = picks.iter().fold(0, |acc, &i| acc | $ty::NAMES[i].1);
                    let text = scramble(&names, &case, &spaces);
                    let parsed = text.parse::<$ty>().map($ty::bits);
                    prop_assert_eq!(parsed, Ok(bits), "{}", text);
                    let json = serde_json::to_string(&text).unwrap();
                    prop_assert_eq!(serde_json::from_str::<$ty>(&json).map($ty::bits).ok(), Some(bits));
                }

                #[test]
                fn unknown_names_fail(
                    name in "[A-Za-z0-9_]{1,12}",
                    valid in proptest::sample::select($ty::NAMES.to_vec()),
                ) {
                    prop_assume!(!$ty::NAMES.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)));
                    prop_assert!(name.parse::<$ty>().is_err());
                    let listed = format!("{}, {name}", valid.0);
                    prop_assert!(listed.parse::<$ty>().is_err());
                    let json = serde_json::to_string(&listed).unwrap();
                    prop_assert!(serde_json::from_str::<$ty>(&json).is_err());
                }
            }
        }
    };
}

flag_tests!(table_right, TableRightMask);
flag_tests!(field_right, FieldRightMask);
flag_tests!(customer_fields, CustomerFieldFlags);

#[test]
fn spec_examples() {
    let fr = |b| FieldRightMask::from_bits(b).unwrap().to_string();
    let tr = |b| TableRightMask::from_bits(b).unwrap().to_string();
    assert_eq!(fr(67), "FULL, UIHintMandatory");
    assert_eq!(fr(3), "FULL");
    assert_eq!(fr(33), "Read, Nullable");
    assert_eq!(fr(35), "FULL, Nullable");
    assert_eq!(tr(9), "Select, Delete");
    assert_eq!(tr(1), "Select");
    assert_eq!(tr(16), "Filtering");
    assert_eq!(tr(15), "FULL");
    assert_eq!(tr(47), "Select, Delete, WRITE");
    assert_eq!(
        (TableRightMask::SELECT | TableRightMask::DELETE).to_string(),
        "Select, Delete"
    );
    assert!(TableRightMask::FULL.contains(TableRightMask::UR));
    assert!(!TableRightMask::UR.contains(TableRightMask::DELETE));
    assert_eq!(
        "read , nullable".parse::<FieldRightMask>().unwrap(),
        FieldRightMask::READ | FieldRightMask::NULLABLE
    );
    assert_eq!(
        "Unused4".parse::<FieldRightMask>().unwrap().to_string(),
        "Nullable"
    );
    assert_eq!(
        "F".parse::<TableRightMask>().unwrap().to_string(),
        "Filtering"
    );
    assert_eq!("R".parse::<TableRightMask>().unwrap().to_string(), "Select");
    assert_eq!(
        "Update".parse::<FieldRightMask>().unwrap().to_string(),
        "FULL"
    );
}
