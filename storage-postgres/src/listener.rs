//! Hearing other processes' commits of change-feed events (crate-private):
//! a transaction that wrote events sends `NOTIFY` on the store's channel with
//! its `COMMIT`; a thread of the store, on a connection of its own, `LISTEN`s
//! and wakes the registered services. Started with the first registration
//! (a store no service waits on opens no extra connection); stops within a
//! fraction of a second after the store is dropped.

use crate::PgConnector;
use crate::pool::Connector;
use chatdesk::backend::ForeignCommitWaker;
use postgres::fallible_iterator::FallibleIterator;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the thread waits for a notification before it checks whether
/// the store is gone.
const POLL: Duration = Duration::from_millis(200);

/// How long it waits before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Shared {
    wakers: Mutex<Vec<ForeignCommitWaker>>,
    stop: AtomicBool,
}

impl Shared {
    fn wake_all(&self) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        wakers.retain(|wake| wake());
    }
}

/// The listener of one store.
pub(crate) struct Listener {
    connector: PgConnector,
    channel: String,
    shared: Arc<Shared>,
    started: AtomicBool,
}

impl Listener {
    pub(crate) fn new(connector: PgConnector, channel: String) -> Self {
        Listener {
            connector,
            channel,
            shared: Arc::new(Shared::default()),
            started: AtomicBool::new(false),
        }
    }

    /// Adds a waker; starts the thread on the first one.
    pub(crate) fn register(&self, wake: ForeignCommitWaker) {
        self.shared
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(wake);
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (connector, channel, shared) = (
            self.connector.clone(),
            self.channel.clone(),
            Arc::clone(&self.shared),
        );
        let spawned = std::thread::Builder::new()
            .name("chatdesk-pg-listen".into())
            .spawn(move || listen(&connector, &channel, &shared));
        if spawned.is_err() {
            // No thread: waiters fall back to their timeouts; try again on
            // the next registration.
            self.started.store(false, Ordering::SeqCst);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn listen(connector: &PgConnector, channel: &str, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        let mut client = match connector.connect() {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(RETRY);
                continue;
            }
        };
        if client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .is_err()
        {
            std::thread::sleep(RETRY);
            continue;
        }
        // Commits may have been missed while not listening: let waiters look.
        shared.wake_all();
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let mut broken = false;
            {
                let mut notifications = client.notifications();
                let mut it = notifications.timeout_iter(POLL);
                loop {
                    match it.next() {
                        Ok(Some(_)) => shared.wake_all(),
                        Ok(None) => break,
                        Err(_) => {
                            broken = true;
                            break;
                        }
                    }
                }
            }
            if broken || client.is_closed() {
                break;
            }
        }
    }
}
