//! The connection cut around COMMIT, through a small Unix-socket proxy in
//! front of the test server: cut after the COMMIT reached the server with
//! the server still reachable → the store asks it and reports success; cut
//! after COMMIT with the server unreachable → OutcomeUnknown (and the write
//! is there once the server is reachable again); cut before COMMIT reached
//! the server → Conflict and nothing written.

use chatdesk::Error;
use chatdesk::backend::StorageExt;
use chatdesk_postgres::testing;
use chatdesk_postgres::{PgOptions, PgStorage};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

const OFF: u8 = 0;
const CUT_AFTER_STAY_UP: u8 = 1;
const CUT_AFTER_GO_DOWN: u8 = 2;
const CUT_BEFORE: u8 = 3;

struct Proxy {
    dir: tempfile::TempDir,
    mode: Arc<AtomicU8>,
    down: Arc<AtomicBool>,
}

fn pipe_server_to_client(mut from: UnixStream, mut to: UnixStream, cut: Arc<AtomicBool>) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

fn serve(client: UnixStream, upstream: PathBuf, mode: Arc<AtomicU8>, down: Arc<AtomicBool>) {
    let Ok(server) = UnixStream::connect(&upstream) else {
        return;
    };
    let cut = Arc::new(AtomicBool::new(false));
    let (Ok(server_r), Ok(client_w)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    {
        let cut = cut.clone();
        std::thread::spawn(move || pipe_server_to_client(server_r, client_w, cut));
    }
    let (mut client, mut server) = (client, server);
    let mut buf = [0u8; 8192];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let is_commit = chunk.windows(7).any(|w| w == b"COMMIT\0");
        let m = mode.load(Ordering::SeqCst);
        if is_commit && m != OFF {
            mode.store(OFF, Ordering::SeqCst);
            cut.store(true, Ordering::SeqCst);
            if m == CUT_AFTER_GO_DOWN {
                down.store(true, Ordering::SeqCst);
            }
            if m != CUT_BEFORE {
                let _ = server.write_all(chunk);
                // Give the server the time to run the commit before it
                // sees the client go.
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
            return;
        }
        if server.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Both);
}

impl Proxy {
    /// A proxy in front of the Unix socket `upstream_dir/.s.PGSQL.port`.
    fn start(upstream_dir: PathBuf, port: u16) -> Proxy {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let name = format!(".s.PGSQL.{port}");
        let listener = UnixListener::bind(dir.path().join(&name)).unwrap_or_else(|e| panic!("{e}"));
        let upstream = upstream_dir.join(&name);
        let mode = Arc::new(AtomicU8::new(OFF));
        let down = Arc::new(AtomicBool::new(false));
        {
            let (mode, down) = (mode.clone(), down.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if down.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let (upstream, mode, down) = (upstream.clone(), mode.clone(), down.clone());
                    std::thread::spawn(move || serve(client, upstream, mode, down));
                }
            });
        }
        Proxy { dir, mode, down }
    }
}

/// The test server's socket directory and port, when it is on a Unix socket.
fn unix_socket(url: &str) -> Option<(PathBuf, u16)> {
    let config: postgres::Config = url.parse().ok()?;
    let dir = config.get_hosts().iter().find_map(|h| match h {
        postgres::config::Host::Unix(p) => Some(p.clone()),
        _ => None,
    })?;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Some((dir, port))
}

fn setup() -> Option<(testing::TempPg, Proxy, PgStorage)> {
    let temp = testing::temp_store_or_skip()?;
    let Some((dir, port)) = unix_socket(temp.url()) else {
        eprintln!("skipped: the test server is not on a Unix socket");
        return None;
    };
    let proxy = Proxy::start(dir, port);
    let url = format!(
        "host={} port={port} user=chatdesk dbname=postgres",
        proxy.dir.path().display()
    );
    let url = match temp.url().parse::<postgres::Config>() {
        Ok(c) => match c.get_user() {
            Some(user) => url.replace("user=chatdesk", &format!("user={user}")),
            None => url,
        },
        Err(_) => url,
    };
    let store = PgStorage::open(
        &url,
        PgOptions {
            schema: temp.schema().to_owned(),
            busy_timeout: Duration::from_secs(1),
            pool_size: 2,
            ..PgOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Some((temp, proxy, store))
}

#[test]
fn a_commit_cut_off_is_learned_from_the_server() {
    let Some((temp, proxy, store)) = setup() else {
        return;
    };
    proxy.mode.store(CUT_AFTER_STAY_UP, Ordering::SeqCst);
    store
        .write(|tx| tx.put_meta("k", "committed"))
        .unwrap_or_else(|e| panic!("the outcome was not learned: {e}"));
    let v = temp
        .read(|tx| tx.meta("k"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.as_deref(), Some("committed"));
    // The store goes on working.
    store
        .write(|tx| tx.put_meta("k", "again"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_commit_cut_off_with_the_server_unreachable_is_outcome_unknown() {
    let Some((temp, proxy, store)) = setup() else {
        return;
    };
    proxy.mode.store(CUT_AFTER_GO_DOWN, Ordering::SeqCst);
    match store.write(|tx| tx.put_meta("k", "maybe")) {
        Err(Error::OutcomeUnknown { .. }) => {}
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    proxy.down.store(false, Ordering::SeqCst);
    // It did commit; the store works again once the server is reachable.
    let v = store
        .read(|tx| tx.meta("k"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.as_deref(), Some("maybe"));
    drop(temp);
}

#[test]
fn a_connection_cut_before_commit_is_a_conflict_with_nothing_written() {
    let Some((temp, proxy, store)) = setup() else {
        return;
    };
    proxy.mode.store(CUT_BEFORE, Ordering::SeqCst);
    match store.write(|tx| tx.put_meta("k", "never")) {
        Err(Error::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    let v = temp
        .read(|tx| tx.meta("k"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v, None);
}
