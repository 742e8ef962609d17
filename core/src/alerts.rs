//! Alert levels as a pure rule (see [`crate::guide::queue`]).

/// The alert level reached after waiting `waited_secs` against a level-1 and
/// a level-2 limit in minutes (0 = off): the highest reached.
pub(crate) fn level_reached(waited_secs: i64, level1_minutes: i32, level2_minutes: i32) -> i32 {
    let reached = |m: i32| m > 0 && waited_secs >= i64::from(m) * 60;
    if reached(level2_minutes) {
        2
    } else if reached(level1_minutes) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::level_reached;

    #[test]
    fn levels() {
        assert_eq!(level_reached(0, 1, 2), 0);
        assert_eq!(level_reached(60, 1, 2), 1);
        assert_eq!(level_reached(119, 1, 2), 1);
        assert_eq!(level_reached(120, 1, 2), 2);
        assert_eq!(level_reached(1000, 0, 0), 0);
        assert_eq!(level_reached(120, 0, 2), 2);
        assert_eq!(level_reached(60, 5, 1), 2);
    }
}
