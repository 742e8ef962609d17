//! The counted queue index: a Fenwick tree over the whole queue-sequence
//! space, one per topic, kept in the same transaction as the sessions.
//!
//! Every waiting customer asks for their queue position again and again, so a
//! position must not cost a count over the queue (linear in its length). The
//! index stores, per (topic, node), how many of the topic's human-queue
//! sessions fall in that node's range of sequences; a position is the sum of
//! at most [`DEPTH`] nodes and a queue entry or exit updates at most
//! [`DEPTH`] nodes. The depth is fixed by the size of the sequence space, so
//! it grows neither with the queue nor with history. Nodes whose count drops
//! to 0 are removed, so the index holds only what the current queues need.
//!
//! The rule lives here; backends store `(topic, node) → count` and call
//! [`changes`] with the human-queue key a session had and has.

use crate::error::{Error, Result};
use crate::ids::TopicId;

/// Levels of the index: the sequence space is `1..=2^DEPTH`.
pub const DEPTH: u32 = 40;

/// The largest queue sequence the index can hold (about 1.1 × 10¹²).
pub const SPACE: u64 = 1 << DEPTH;

fn lowbit(i: u64) -> u64 {
    i & i.wrapping_neg()
}

/// The nodes whose counts add up to the number of queued sequences in
/// `1..=upto` (at most [`DEPTH`] + 1 nodes).
pub fn prefix_nodes(upto: u64) -> Vec<u64> {
    let mut i = upto.min(SPACE);
    let mut out = Vec::with_capacity(DEPTH as usize + 1);
    while i > 0 {
        out.push(i);
        i -= lowbit(i);
    }
    out
}

/// The nodes a queue entry or exit at `seq` changes.
///
/// # Errors
/// Corrupt when `seq` is 0 or beyond [`SPACE`] (sequences start at 1).
pub fn update_nodes(seq: u64) -> Result<Vec<u64>> {
    check_seq(seq)?;
    let mut i = seq;
    let mut out = Vec::with_capacity(DEPTH as usize + 1);
    while i <= SPACE {
        out.push(i);
        i += lowbit(i);
    }
    Ok(out)
}

/// Refuses a sequence the index cannot hold.
///
/// # Errors
/// Corrupt when `seq` is 0 or beyond [`SPACE`] (sequences start at 1).
pub fn check_seq(seq: u64) -> Result<()> {
    if seq == 0 || seq > SPACE {
        return Err(Error::corrupt(format!(
            "queue sequence {seq} is outside the counted index (1..={SPACE})"
        )));
    }
    Ok(())
}

/// The range of sequences node `node` counts: `(low, high]`.
pub fn node_range(node: u64) -> (u64, u64) {
    (node - lowbit(node), node)
}

/// The node whose count is the whole queue's length.
pub const TOTAL_NODE: u64 = SPACE;

/// The count changes, as (topic, node, delta), when a session's human-queue
/// key (its topic and sequence, see `SessionRecord::human_queue_seq`) goes
/// from `old` to `new` (None: not in a human queue; `new` None also for a
/// deleted session).
///
/// # Errors
/// Corrupt for a sequence outside the index.
pub fn changes(
    old: Option<(TopicId, u64)>,
    new: Option<(TopicId, u64)>,
) -> Result<Vec<(TopicId, u64, i64)>> {
    if old == new {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    if let Some((topic, seq)) = old {
        out.extend(update_nodes(seq)?.into_iter().map(|n| (topic, n, -1)));
    }
    if let Some((topic, seq)) = new {
        out.extend(update_nodes(seq)?.into_iter().map(|n| (topic, n, 1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn prefix_sums_match_a_plain_count() {
        let seqs = [1u64, 2, 3, 7, 8, 9, 100, 1023, 1024, 1025, SPACE - 1, SPACE];
        let mut counts: BTreeMap<u64, i64> = BTreeMap::new();
        for s in seqs {
            for n in update_nodes(s).unwrap() {
                *counts.entry(n).or_default() += 1;
            }
        }
        for upto in [
            0,
            1,
            2,
            6,
            7,
            8,
            99,
            100,
            1024,
            5000,
            SPACE - 1,
            SPACE,
            u64::MAX,
        ] {
            let want = seqs.iter().filter(|s| **s <= upto).count() as i64;
            let got: i64 = prefix_nodes(upto)
                .iter()
                .map(|n| counts.get(n).copied().unwrap_or(0))
                .sum();
            assert_eq!(got, want, "upto {upto}");
        }
        assert_eq!(counts.get(&TOTAL_NODE).copied(), Some(seqs.len() as i64));
        assert!(prefix_nodes(SPACE - 1).len() <= DEPTH as usize + 1);
        assert!(update_nodes(1).unwrap().len() <= DEPTH as usize + 1);
        assert!(update_nodes(0).is_err());
        assert!(update_nodes(SPACE + 1).is_err());
    }

    #[test]
    fn moving_within_the_same_key_changes_nothing() {
        let k = Some((TopicId(1), 5));
        assert!(changes(k, k).unwrap().is_empty());
        let c = changes(k, Some((TopicId(2), 5))).unwrap();
        assert_eq!(c.iter().map(|x| x.2).sum::<i64>(), 0);
    }
}
