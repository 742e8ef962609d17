//! The server killed under load (`pg_ctl stop -m immediate`) and started
//! again: in durable mode every acknowledged write is there after recovery,
//! and the store's pool recovers by itself. Its own test binary, so that no
//! other test shares the server it kills.

use chatdesk::backend::StorageExt;
use chatdesk_postgres::testing;
use chatdesk_postgres::{Durability, PgOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// When the server (re)started.
fn postmaster_start(url: &str) -> String {
    let config: postgres::Config = url.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut client = config
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .and_then(|r| r.try_get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn acknowledged_durable_writes_survive_a_server_crash_and_the_pool_recovers() {
    let Some(url) = testing::server_url() else {
        return;
    };
    let temp = testing::temp_store_at(
        &url,
        PgOptions {
            durability: Durability::Durable,
            busy_timeout: Duration::from_secs(1),
            pool_size: 2,
            ..PgOptions::default()
        },
    );
    let store = Arc::new(
        temp.open_again(PgOptions {
            busy_timeout: Duration::from_millis(500),
            pool_size: 2,
            ..PgOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop, restarted) = (store.clone(), stop.clone(), restarted.clone());
        std::thread::spawn(move || {
            let (mut acked, mut failed, mut after_restart) = (Vec::new(), 0, 0);
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                match store.write(|tx| tx.put_meta(&format!("k{i}"), "v")) {
                    Ok(()) => {
                        acked.push(i);
                        if restarted.load(Ordering::SeqCst) {
                            after_restart += 1;
                        }
                    }
                    Err(_) => {
                        failed += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            (acked, failed, after_restart)
        })
    };
    let started_before = postmaster_start(&url);
    std::thread::sleep(Duration::from_millis(400));
    testing::crash_server().unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(300));
    testing::restart_server().unwrap_or_else(|e| panic!("{e}"));
    restarted.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let (acked, failed, after_restart) = writer
        .join()
        .unwrap_or_else(|_| panic!("the writer panicked"));
    // `failed` may be 0: a write whose connection broke during the crash may
    // learn on the restarted server that it committed. The server did
    // restart:
    assert_ne!(started_before, postmaster_start(&url), "no restart");
    assert!(
        after_restart > 0,
        "the pool did not recover after the restart"
    );
    let missing: Vec<u32> = store
        .read(|tx| {
            let mut missing = Vec::new();
            for &i in &acked {
                if tx.meta(&format!("k{i}"))?.is_none() {
                    missing.push(i);
                }
            }
            Ok(missing)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    eprintln!(
        "{} writes acknowledged ({after_restart} after the restart), {failed} failed while the server was down",
        acked.len()
    );
}
