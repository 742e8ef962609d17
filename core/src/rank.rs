//! Rank allocation: the lowest positive integer not used by the same user's
//! other active sessions.

/// The lowest positive integer not in `in_use` (ranks ≤ 0 are ignored).
pub(crate) fn lowest_free_rank(in_use: impl IntoIterator<Item = i32>) -> i32 {
    let mut used: Vec<i32> = in_use.into_iter().filter(|r| *r > 0).collect();
    used.sort_unstable();
    used.dedup();
    let mut want = 1;
    for r in used {
        if r == want {
            want += 1;
        } else if r > want {
            break;
        }
    }
    want
}

#[cfg(test)]
mod tests {
    use super::lowest_free_rank;

    #[test]
    fn fills_the_lowest_gap() {
        assert_eq!(lowest_free_rank([]), 1);
        assert_eq!(lowest_free_rank([1, 2, 3]), 4);
        assert_eq!(lowest_free_rank([2, 3]), 1);
        assert_eq!(lowest_free_rank([1, 3, 3, 0, -4]), 2);
    }
}
