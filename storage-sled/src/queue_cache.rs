//! The counted queue index, also held in memory.
//!
//! A queue position sums up to 40 nodes of the counted index
//! (`chatdesk::backend::queue_index`); as sled point reads in a tree that also holds
//! every session, message and index entry, their cost grew with the store
//! (measured: a queue position 2.0 µs with 100 sessions, 5.2 µs beside
//! 1 000 000 closed ones). A sled store belongs to one process (sled locks
//! its directory), so the store keeps a copy of the index's entries (raw
//! key → raw value, decoded on read as before) in memory: loaded on open,
//! read by every transaction under the store's gate, and updated with a
//! commit's queue-index writes under the same exclusive gate that applies
//! them to the tree, so a reader sees the copy and the tree change together.

use crate::engine::Engine;
use crate::keys;
use crate::overlay::Overlay;
use chatdesk::Result;
use std::collections::HashMap;

/// The queue index's entries: key bytes → value bytes, as in the tree.
#[derive(Debug, Default)]
pub(crate) struct QueueCache {
    nodes: HashMap<Vec<u8>, Vec<u8>>,
}

/// A commit's writes to the queue index (`None`: deleted).
pub(crate) type QueueWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

impl QueueCache {
    /// Reads the whole queue index from the tree.
    ///
    /// # Errors
    /// What reading the tree gives.
    pub(crate) fn load(engine: &Engine) -> Result<Self> {
        let mut nodes = HashMap::new();
        for entry in engine.range(keys::all_in(&[keys::QUEUE_INDEX]))? {
            let (k, v) = entry?;
            nodes.insert(k.to_vec(), v.to_vec());
        }
        Ok(QueueCache { nodes })
    }

    /// The stored value of a queue-index key, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.nodes.get(key).map(Vec::as_slice)
    }

    /// The queue-index writes pending in `overlay`.
    pub(crate) fn writes_of(overlay: &Overlay) -> QueueWrites {
        overlay.writes_in(keys::all_in(&[keys::QUEUE_INDEX]))
    }

    /// Applies a committed transaction's queue-index writes.
    pub(crate) fn apply(&mut self, writes: QueueWrites) {
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.nodes.insert(k, v);
                }
                None => {
                    self.nodes.remove(&k);
                }
            }
        }
    }

    /// Whether `key` belongs to the queue index.
    pub(crate) fn holds(key: &[u8]) -> bool {
        key.first() == Some(&keys::QUEUE_INDEX)
    }
}
