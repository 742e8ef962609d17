//! A write transaction's pending writes to one tree, read back merged with
//! the committed tree: reads see the transaction's own writes, and nothing
//! reaches a tree until the transaction's overlays are committed together
//! (one batch, or one transaction over both trees).

use chatdesk::Result;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;
use std::ops::Bound;

/// Pending writes, by key: `Some(value)` to insert, `None` to delete.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overlay {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A transaction's pending writes to each of the store's trees.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// To sled's default tree.
    pub(crate) open: Overlay,
    /// To the history tree.
    pub(crate) history: Overlay,
}

impl Writes {
    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty() && self.history.is_empty()
    }
}

/// What the overlay knows about one key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pending<'a> {
    /// Not touched: read the base.
    Untouched,
    /// Written in this transaction.
    Put(&'a [u8]),
    /// Deleted in this transaction.
    Deleted,
}

impl Overlay {
    /// An empty overlay.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The pending state of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Pending<'_> {
        match self.writes.get(key) {
            None => Pending::Untouched,
            Some(Some(v)) => Pending::Put(v),
            Some(None) => Pending::Deleted,
        }
    }

    /// The pending writes with keys in `bounds`, in key order.
    pub(crate) fn writes_in(
        &self,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes
            .range(bounds)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Records an insert or replace.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Records a delete.
    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// The committed `base` range merged with the pending writes in the same
    /// bounds, in key order: a pending write shadows the base entry of the
    /// same key, and a pending delete hides it.
    ///
    /// `base` must yield keys in ascending order within `bounds`.
    pub(crate) fn merge<'a, B, K, V>(
        &'a self,
        base: B,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Merged<'a, B>
    where
        B: Iterator<Item = Result<(K, V)>>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        Merged {
            base,
            base_head: None,
            base_done: false,
            pending: self.writes.range(bounds).peekable(),
        }
    }

    /// The pending writes, in key order, consumed.
    pub(crate) fn into_writes(self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
        self.writes.into_iter()
    }

    /// The pending writes as one sled batch (applied atomically).
    pub(crate) fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in self.into_writes() {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }
}

/// The iterator [`Overlay::merge`] returns.
#[derive(Debug)]
pub(crate) struct Merged<'a, B> {
    base: B,
    base_head: Option<(Vec<u8>, Vec<u8>)>,
    base_done: bool,
    pending: Peekable<btree_map::Range<'a, Vec<u8>, Option<Vec<u8>>>>,
}

impl<B, K, V> Iterator for Merged<'_, B>
where
    B: Iterator<Item = Result<(K, V)>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.base_head.is_none() && !self.base_done {
                match self.base.next() {
                    None => self.base_done = true,
                    Some(Err(e)) => {
                        self.base_done = true;
                        return Some(Err(e));
                    }
                    Some(Ok((k, v))) => {
                        self.base_head = Some((k.as_ref().to_vec(), v.as_ref().to_vec()));
                    }
                }
            }
            let order = match (&self.base_head, self.pending.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((bk, _)), Some((pk, _))) => bk.as_slice().cmp(pk.as_slice()),
            };
            match order {
                Ordering::Less => return self.base_head.take().map(Ok),
                // Shadowed by this transaction's own write (or delete).
                Ordering::Equal => self.base_head = None,
                Ordering::Greater => {}
            }
            match self.pending.next() {
                Some((k, Some(v))) => return Some(Ok((k.clone(), v.clone()))),
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatdesk::Error;

    fn base(pairs: &[(&[u8], &[u8])]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    fn merged(
        o: &Overlay,
        b: &BTreeMap<Vec<u8>, Vec<u8>>,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let it = b
            .range(bounds.clone())
            .map(|(k, v)| Ok((k.clone(), v.clone())));
        o.merge(it, bounds).collect::<Result<Vec<_>>>().unwrap()
    }

    fn all() -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        (Bound::Unbounded, Bound::Unbounded)
    }

    #[test]
    fn get_put_delete() {
        let mut o = Overlay::new();
        assert!(o.is_empty());
        assert_eq!(o.get(b"a"), Pending::Untouched);
        o.put(b"a".to_vec(), b"1".to_vec());
        assert_eq!(o.get(b"a"), Pending::Put(b"1"));
        o.put(b"a".to_vec(), b"2".to_vec());
        assert_eq!(o.get(b"a"), Pending::Put(b"2"));
        o.delete(b"a".to_vec());
        assert_eq!(o.get(b"a"), Pending::Deleted);
        o.put(b"a".to_vec(), b"3".to_vec());
        assert_eq!(o.get(b"a"), Pending::Put(b"3"));
        assert!(!o.is_empty());
        let writes: Vec<_> = o.into_writes().collect();
        assert_eq!(writes, vec![(b"a".to_vec(), Some(b"3".to_vec()))]);
    }

    #[test]
    fn range_merges_inserts_replacements_and_deletes() {
        let b = base(&[(b"a", b"1"), (b"c", b"3"), (b"e", b"5"), (b"g", b"7")]);
        let mut o = Overlay::new();
        o.put(b"b".to_vec(), b"2".to_vec()); // new, between base keys
        o.put(b"c".to_vec(), b"33".to_vec()); // replaces
        o.delete(b"e".to_vec()); // hides
        o.delete(b"f".to_vec()); // deleting a missing key is harmless
        o.put(b"h".to_vec(), b"8".to_vec()); // after every base key
        let got = merged(&o, &b, all());
        let want = base(&[
            (b"a", b"1"),
            (b"b", b"2"),
            (b"c", b"33"),
            (b"g", b"7"),
            (b"h", b"8"),
        ]);
        assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn range_respects_bounds_on_both_sides() {
        let b = base(&[(b"a", b"1"), (b"c", b"3"), (b"e", b"5")]);
        let mut o = Overlay::new();
        o.put(b"0".to_vec(), b"0".to_vec());
        o.put(b"d".to_vec(), b"4".to_vec());
        o.put(b"z".to_vec(), b"9".to_vec());
        let bounds = (
            Bound::Excluded(b"a".to_vec()),
            Bound::Excluded(b"e".to_vec()),
        );
        let got = merged(&o, &b, bounds);
        assert_eq!(
            got,
            vec![
                (b"c".to_vec(), b"3".to_vec()),
                (b"d".to_vec(), b"4".to_vec())
            ]
        );
    }

    #[test]
    fn range_of_only_deletes_or_empty_is_empty() {
        let b = base(&[(b"a", b"1")]);
        let mut o = Overlay::new();
        assert_eq!(merged(&o, &b, all()).len(), 1);
        o.delete(b"a".to_vec());
        assert!(merged(&o, &b, all()).is_empty());
        assert!(merged(&o, &BTreeMap::new(), all()).is_empty());
    }

    #[test]
    fn base_errors_come_through() {
        let o = Overlay::new();
        let it = vec![Err::<(Vec<u8>, Vec<u8>), _>(Error::corrupt("x"))].into_iter();
        let got: Vec<_> = o.merge(it, all()).collect();
        assert!(matches!(got.as_slice(), [Err(Error::Corrupt { .. })]));
    }
}
