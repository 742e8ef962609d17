//! Writers of different processes take turns in the order they asked.
//!
//! SQLite alone serializes the writers of different processes with its write
//! lock, but a writer that finds the lock taken sleeps and polls (the busy
//! handler): whoever polls at the right moment wins, and the process that
//! just committed usually takes the lock again before anyone else wakes.
//! Measured with one creator and four agent processes on one file (the
//! `fairness` benchmark, 2 000 sessions): one agent got 7.8 % of the
//! pick-ups and another 44 %, and single writes waited up to 26 s.
//!
//! So every write transaction first takes a ticket and waits for its turn,
//! like customers at a counter. Everything lives in the directory
//! `<file>-turns` beside the database: `counter` holds the next ticket
//! number (read and advanced under an exclusive lock of that file, held for
//! a few system calls), and ticket `t` owns the lock file `slot-<t % SLOTS>`:
//!
//! 1. under the counter's lock: draw ticket `t`, lock `slot-<t>` (free: its
//!    last owner was `SLOTS` tickets ago), let the counter go;
//! 2. wait for `slot-<t - 1>` (locked by the previous ticket from its draw
//!    until its write transaction ended), then let it go at once;
//! 3. run `BEGIN IMMEDIATE … COMMIT`; unlock `slot-<t>`: the next ticket's
//!    holder wakes.
//!
//! Only ticket `t`'s holder ever waits for slot `t - 1`, so there is nothing
//! to barge into: with one plain lock (or a door and a lock: measured, the
//! longest wait was still 2.3 s), the process that just released comes
//! straight back and takes it again while the woken waiter is still waiting
//! for a CPU. The locks are `flock`s (`std::fs::File::lock`), one per open
//! file: two stores in one process take turns like two processes.
//!
//! **Time limit.** A blocking `flock` cannot be given a timeout, and a writer
//! must get [`chatdesk::Error::Conflict`] after the store's busy timeout,
//! never hang. So the caller's own thread only tries without blocking (no
//! one ahead: a dozen system calls, a few microseconds); when it would
//! block, a helper thread of the store waits in the kernel and the caller
//! waits for the helper at most the busy timeout. A caller that gives up
//! leaves its ticket with the helper: the store's next writer takes over
//! that place in the line, or, if none comes, the helper passes the turn on
//! as soon as it comes. The helper starts at the first wait and ends with
//! the store (if it is blocked in the kernel then, as soon as its turn
//! comes). The counter's lock is only ever tried, with short sleeps, up to
//! the same deadline.
//!
//! **Crashes.** The kernel drops a process's file locks when it dies, SIGKILL
//! included, so a killed writer (or a killed waiter) never blocks the line;
//! the ticket after a killed waiter's may start before the ticket before it
//! ended, which SQLite's own write lock still serializes (this queue only
//! decides the order; SQLite keeps writers apart). The same holds when more
//! than `SLOTS` stores wait at once (a slot still held by an older ticket
//! is not taken): the order loosens, nothing breaks. The files hold no data
//! but the counter and are left in place (removing them while another
//! process waits would split the line in two).
//!
//! Within one process, writers queue on the store's fair mutex first
//! (arrival order) and only its holder takes a ticket, so a process holds
//! one ticket at a time: a process with eight writing threads does not get
//! eight times the turns of a process with one.

use crate::errors::BACKEND;
use chatdesk::{Error, Result, StorageError};
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slot files: how many stores may wait at once with the order kept (each
/// store keeps the ones it used open: at most this many descriptors).
pub(crate) const SLOTS: u64 = 16;

/// The turn-taking of one store (one per [`crate::SqliteStorage`]).
#[derive(Debug)]
pub(crate) struct Turns {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// `<file>-turns`.
    dir: PathBuf,
    /// `<file>-turns/counter`: the next ticket, and the lock drawing one.
    counter: File,
    /// The slot files opened so far, kept open: opening and closing two
    /// files per write cost more than the locks (measured: an empty write
    /// 4 µs without turns, 14 µs with, 8 µs with the files kept open).
    slots: Mutex<Vec<Option<Arc<File>>>>,
    state: Mutex<State>,
    /// Signals changes of `state` both ways (writer ↔ helper).
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The store's current writer waits for the helper.
    wanted: bool,
    /// The ticket the helper waits with.
    queued: Option<Ticket>,
    /// The helper's ticket came up; its own slot is here for the writer.
    granted: Option<Option<Arc<File>>>,
    /// The helper holds the store's ticket: a writer must not draw another.
    busy: bool,
    /// What the helper's last wait failed with.
    failed: Option<std::io::Error>,
    /// The helper thread has been started.
    running: bool,
    /// The store is gone: the helper lets go of what it holds and ends.
    stop: bool,
}

/// A drawn ticket: its own slot (locked, unless more than [`SLOTS`]
/// tickets are out) and the previous ticket's slot.
#[derive(Debug)]
struct Ticket {
    own: Option<Arc<File>>,
    previous: Arc<File>,
}

/// Unlocks a ticket's own slot (which passes the turn on).
fn release(own: Option<Arc<File>>) {
    if let Some(slot) = own {
        // Unlocking an open file's lock does not fail in practice; if it
        // did, the next ticket's holder would wait until the busy timeout
        // (Conflict), and the lock would go with the store's files.
        let _ = slot.unlock();
    }
}

/// The turn, held until dropped: the ticket's slot, locked.
#[derive(Debug)]
pub(crate) struct Turn {
    slot: Option<Arc<File>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        release(self.slot.take());
    }
}

/// The directory of the turn files of the database at `db`.
pub(crate) fn turns_dir(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-turns");
    PathBuf::from(name)
}

/// Whether `db` names a file on disk (not `:memory:`, an empty path for a
/// temporary database, or a `file:` URI), so that other processes can
/// share it and the turn files have a place beside it.
pub(crate) fn is_plain_file(db: &Path) -> bool {
    let s = db.as_os_str();
    !(s.is_empty() || s == ":memory:" || db.to_string_lossy().starts_with("file:"))
}

fn io_err(context: impl Into<String>, e: std::io::Error) -> Error {
    Error::Storage(StorageError::new(BACKEND, context.into(), e))
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `File::lock`, retried when a signal interrupts it.
fn lock_blocking(file: &File) -> std::io::Result<()> {
    loop {
        match file.lock() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// `File::try_lock`: `Ok(true)` when taken, `Ok(false)` when another open
/// file holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Reads the counter (0 for a new or short file).
fn read_counter(f: &File) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    match read_at_start(f, &mut buf) {
        Ok(()) => Ok(u64::from_le_bytes(buf)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn read_at_start(f: &File, buf: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, 0)
}

#[cfg(unix)]
fn write_counter(f: &File, value: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, &value.to_le_bytes(), 0)
}

#[cfg(not(unix))]
fn read_at_start(mut f: &File, buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(buf)
}

#[cfg(not(unix))]
fn write_counter(mut f: &File, value: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&value.to_le_bytes())
}

/// Unlocks the counter when dropped.
struct CounterLock<'a>(&'a File);

impl Drop for CounterLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Shared {
    /// Slot `n % SLOTS`, opened once and kept.
    fn slot(&self, n: u64) -> std::io::Result<Arc<File>> {
        let i = usize::try_from(n % SLOTS).unwrap_or(0);
        let mut slots = self.slots.lock();
        if let Some(Some(f)) = slots.get(i) {
            return Ok(Arc::clone(f));
        }
        let f = Arc::new(open_rw(&self.dir.join(format!("slot-{i:02}")))?);
        if slots.len() <= i {
            slots.resize(i + 1, None);
        }
        slots[i] = Some(Arc::clone(&f));
        Ok(f)
    }

    /// Tries the counter's lock until `deadline` (it is held for a few
    /// system calls at a time, so a short sleep between tries is enough).
    fn lock_counter(&self, deadline: Instant) -> Result<CounterLock<'_>> {
        let ctx = "drawing a write ticket";
        let mut tries = 0u32;
        loop {
            if try_lock(&self.counter).map_err(|e| io_err(ctx, e))? {
                return Ok(CounterLock(&self.counter));
            }
            if Instant::now() >= deadline {
                return Err(Error::conflict(
                    "another process held the SQLite store's ticket counter past the busy timeout; retry",
                ));
            }
            tries += 1;
            if tries < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50 * u64::from(tries.min(20))));
            }
        }
    }

    /// Draws a ticket.
    fn draw(&self, deadline: Instant) -> Result<Ticket> {
        let ctx = "drawing a write ticket";
        let held = self.lock_counter(deadline)?;
        let t = read_counter(held.0).map_err(|e| io_err(ctx, e))?;
        write_counter(held.0, t.wrapping_add(1)).map_err(|e| io_err(ctx, e))?;
        let own = self.slot(t).map_err(|e| io_err(ctx, e))?;
        let own = try_lock(&own).map_err(|e| io_err(ctx, e))?.then_some(own);
        drop(held);
        let previous = self
            .slot(t.wrapping_add(SLOTS - 1))
            .map_err(|e| io_err(ctx, e));
        match previous {
            Ok(previous) => Ok(Ticket { own, previous }),
            Err(e) => {
                release(own);
                Err(e)
            }
        }
    }
}

impl Turns {
    /// Opens (creating them if needed) the turn files of the database at
    /// `db`; `None` when the file system does not lock files (the store
    /// then writes without turns, as before they existed: safe, not
    /// ordered).
    ///
    /// # Errors
    /// [`Error::Storage`] when the directory or the counter cannot be
    /// created or opened.
    pub(crate) fn open(db: &Path) -> Result<Option<Turns>> {
        let dir = turns_dir(db);
        let ctx = || format!("opening the write-turn files in {}", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| io_err(ctx(), e))?;
        let counter = open_rw(&dir.join("counter")).map_err(|e| io_err(ctx(), e))?;
        // Another process may hold the counter for a moment (WouldBlock):
        // locks work. An error is a file system without them.
        if let Err(TryLockError::Error(_)) = counter.try_lock() {
            return Ok(None);
        }
        let _ = counter.unlock();
        Ok(Some(Turns {
            shared: Arc::new(Shared {
                dir,
                counter,
                slots: Mutex::new(Vec::new()),
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
            }),
        }))
    }

    /// Waits for this store's turn to write, at most `timeout`. The caller
    /// must be the store's only writer at the time (it holds the store's
    /// writer mutex).
    ///
    /// # Errors
    /// [`Error::Conflict`] when the turn did not come within `timeout`;
    /// [`Error::Storage`] when a turn file cannot be opened or locked.
    pub(crate) fn take(&self, timeout: Duration) -> Result<Turn> {
        let shared = &*self.shared;
        let deadline = Instant::now() + timeout;
        // The helper only takes a ticket from a writer, and the caller is
        // the only writer: if it holds none now it gets none meanwhile.
        if shared.state.lock().busy {
            return self.wait_for_helper(None, deadline, timeout);
        }
        let ticket = shared.draw(deadline)?;
        match try_lock(&ticket.previous) {
            Ok(true) => {
                let _ = ticket.previous.unlock();
                Ok(Turn { slot: ticket.own })
            }
            Ok(false) => self.wait_for_helper(Some(ticket), deadline, timeout),
            Err(e) => {
                release(ticket.own);
                Err(io_err("waiting for the write turn", e))
            }
        }
    }

    fn wait_for_helper(
        &self,
        ticket: Option<Ticket>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Turn> {
        let shared = &*self.shared;
        let mut state = shared.state.lock();
        if !state.running {
            let theirs = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name("chatdesk-sqlite-turns".into())
                .spawn(move || helper(&theirs));
            if let Err(e) = started {
                // Pass the turn on rather than keep it.
                release(ticket.and_then(|t| t.own));
                return Err(io_err("starting the write-turn thread", e));
            }
            state.running = true;
        }
        state.wanted = true;
        if let Some(ticket) = ticket {
            state.queued = Some(ticket);
            state.busy = true;
        }
        shared.changed.notify_all();
        loop {
            if let Some(slot) = state.granted.take() {
                state.wanted = false;
                return Ok(Turn { slot });
            }
            if let Some(e) = state.failed.take() {
                state.wanted = false;
                return Err(io_err("waiting for the write turn", e));
            }
            if shared.changed.wait_until(&mut state, deadline).timed_out()
                && state.granted.is_none()
            {
                // The helper keeps the ticket; the next writer takes over.
                state.wanted = false;
                return Err(Error::conflict(format!(
                    "writers of other processes on this SQLite file were ahead past the busy timeout ({timeout:?}); retry"
                )));
            }
        }
    }
}

impl Drop for Turns {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        state.stop = true;
        self.shared.changed.notify_all();
        // Not joined: a helper blocked in the kernel ends when its turn
        // comes, and passes it on at once.
    }
}

/// The helper thread: waits in the kernel for the store's ticket to come up.
fn helper(shared: &Shared) {
    loop {
        let Ticket { own, previous } = {
            let mut state = shared.state.lock();
            loop {
                if state.stop {
                    return;
                }
                if let Some(ticket) = state.queued.take() {
                    break ticket;
                }
                shared.changed.wait(&mut state);
            }
        };
        let waited = lock_blocking(&previous);
        if waited.is_ok() {
            let _ = previous.unlock();
        }
        let mut state = shared.state.lock();
        state.busy = false;
        match waited {
            Ok(()) if state.wanted && !state.stop => state.granted = Some(own),
            // Nobody waits any more: pass the turn on.
            Ok(()) => release(own),
            Err(e) => {
                release(own);
                if state.wanted {
                    state.failed = Some(e);
                }
            }
        }
        shared.changed.notify_all();
    }
}
