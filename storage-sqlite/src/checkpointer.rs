//! WAL checkpoints off the commit path (relaxed mode: see the crate docs for
//! why durable mode keeps SQLite's own).
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL
//! past 1 000 pages: that writer, and every writer queued behind it, waits
//! while the WAL is copied into the main file and synced. Under eight
//! threads that set the p99 latency (about 1 % of commits paid a whole
//! checkpoint). The writer connection therefore turns it off
//! (`wal_autocheckpoint = 0`) and this thread, on its own connection, runs a
//! `PASSIVE` checkpoint after every [`CHECKPOINT_EVERY`] commits. A passive
//! checkpoint never waits for writers or readers: it copies what no reader
//! still needs, and the next writer restarts the WAL once all of it is in the
//! main file, as with the automatic checkpoint. A checkpoint that fails (say,
//! another process is checkpointing) is simply tried again after the next
//! batch of commits; nothing acknowledged depends on it (commits are durable
//! in the WAL).

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Commits between two checkpoints (a commit writes a handful of pages, so
/// this is of the order of SQLite's default of 1 000 pages).
pub(crate) const CHECKPOINT_EVERY: u64 = 128;

#[derive(Debug, Default)]
struct State {
    commits: u64,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The checkpoint thread of one store; stopped and joined on drop.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to the store.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("chatdesk-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &theirs))?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Counts a commit; wakes the thread every [`CHECKPOINT_EVERY`].
    pub(crate) fn committed(&self) {
        let mut state = self.shared.state.lock();
        state.commits += 1;
        if state.commits >= CHECKPOINT_EVERY {
            self.shared.wake.notify_one();
        }
    }
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        {
            let mut state = shared.state.lock();
            while state.commits < CHECKPOINT_EVERY && !state.stop {
                shared.wake.wait(&mut state);
            }
            if state.stop {
                return;
            }
            state.commits = 0;
        }
        // Best effort by design (see the module docs): the result only says
        // how far it got.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panic on that thread has nothing to hand back; the store is
            // closing either way.
            let _ = thread.join();
        }
    }
}
