//! A small connection pool of our own (crate-private).
//!
//! Why not a pool crate: the store needs only "take an idle connection or
//! open one up to a maximum, else wait up to the busy timeout", plus
//! dropping a connection that broke; `r2d2` would bring a thread and its own
//! error type for that, and the async pools do not fit the sync client. A
//! `Mutex<Vec<Conn>>` with a `Condvar` is all of it, and its behaviour under
//! a lost server is ours to test.

use crate::errors::{pg_err, storage_msg};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many prepared statements one connection keeps.
const STATEMENT_CACHE: usize = 128;

/// One server connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<&'static str, Statement>,
    /// The store's count of round trips to the server.
    trips: Arc<AtomicU64>,
}

impl Conn {
    /// Counts one round trip to the server.
    pub(crate) fn trip(&self) {
        self.trips.fetch_add(1, Ordering::Relaxed);
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        self.trip();
        let s = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.trip();
        self.client.query(&s, params)
    }

    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.trip();
        self.client.execute(&s, params)
    }
}

/// How connections are made.
pub(crate) trait Connector: Send + Sync {
    /// Opens a connection and prepares its session (search path, durability,
    /// lock timeout).
    fn connect(&self) -> chatdesk::Result<Client>;
}

struct State {
    idle: Vec<Conn>,
    open: usize,
}

/// The pool.
pub(crate) struct Pool {
    connector: Box<dyn Connector>,
    max: usize,
    wait: Duration,
    state: Mutex<State>,
    freed: Condvar,
    trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(connector: Box<dyn Connector>, max: usize, wait: Duration) -> Self {
        Pool {
            connector,
            max: max.max(1),
            wait,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            trips: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while fewer than the maximum are open,
    /// or the first one given back within the wait; else Conflict.
    pub(crate) fn get(&self) -> chatdesk::Result<Pooled<'_>> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connector.connect() {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: HashMap::new(),
                            trips: Arc::clone(&self.trips),
                        }),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(chatdesk::Error::conflict(format!(
                    "all {} connections of the pool stayed busy past the busy timeout; retry",
                    self.max
                )));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn give_back(&self, conn: Option<Conn>) {
        let mut state = self.lock();
        match conn {
            Some(conn) if !conn.client.is_closed() => state.idle.push(conn),
            _ => state.open = state.open.saturating_sub(1),
        }
        drop(state);
        self.freed.notify_one();
    }

    /// The round trips to the server so far (statements, prepares, BEGIN
    /// and COMMIT).
    pub(crate) fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// Closes the idle connections.
    pub(crate) fn close_idle(&self) {
        let idle = std::mem::take(&mut self.lock().idle);
        let n = idle.len();
        for conn in idle {
            let _ = conn.client.close();
        }
        let mut state = self.lock();
        state.open = state.open.saturating_sub(n);
    }
}

/// A connection taken from the pool; given back on drop (or dropped when it
/// was discarded or broke).
pub(crate) struct Pooled<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
}

impl Pooled<'_> {
    pub(crate) fn conn(&mut self) -> chatdesk::Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| storage_msg("using a connection", "the connection was discarded"))
    }

    /// Drops the connection instead of giving it back (it may be inside a
    /// transaction that could not be ended).
    pub(crate) fn discard(&mut self) {
        self.conn = None;
    }

    /// Ends whatever transaction is open: ROLLBACK, or discard the
    /// connection when that fails.
    pub(crate) fn rollback(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && conn.client.batch_execute("ROLLBACK").is_err()
        {
            self.discard();
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        self.pool.give_back(self.conn.take());
    }
}

/// Maps an error of the pool's session set-up.
pub(crate) fn setup_err(e: postgres::Error) -> chatdesk::Error {
    pg_err("preparing a new connection's session", e)
}
