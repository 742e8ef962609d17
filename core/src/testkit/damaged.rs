//! A session whose stored row no longer decodes (damage from outside: a disk
//! fault, a hand edit) must not stop the desk: pick-up-first and routing
//! pass over it, reads of it still fail with Corrupt, the skip is reported
//! through `tracing` by id, and the integrity check lists it.
//!
//! Backends damage a row in their own way (a raw write below chatdesk), so
//! the test takes the damage as a function: `damage(store, id)` makes the
//! stored record of session `id` undecodable and returns the store to go
//! on with (a backend that must close the store to write raw reopens it).

use super::Fixture;
use super::capture::Capture;
use super::routing::{auto, responder, st};
use crate::storage::Storage;
use crate::{Caller, ChatSessionStatus, Error, SessionId};

fn corrupt<T: std::fmt::Debug>(what: &str, r: crate::Result<T>) {
    assert!(
        matches!(r, Err(Error::Corrupt { .. })),
        "{what}: expected Corrupt, got {r:?}"
    );
}

/// Two topics, each with a damaged session at the head of its queue and a
/// healthy one behind it: a Manual topic (agent 11 picks up first) and an
/// Auto topic (agent 10 is at capacity until they close a chat, which runs
/// a routing pass).
pub fn a_damaged_session_does_not_stop_the_desk<S: Storage>(
    store: S,
    damage: impl Fn(S, SessionId) -> S,
) {
    let fx = Fixture::new(store);
    let sys = fx.sys();
    let manual = fx.topic("manual");
    responder(&fx, manual, 11);
    fx.present(11, true);
    let routed = fx.staffed_topic("auto"); // agent 10, present
    auto(&fx, routed, 1);
    let (busy, _) = fx.customer_session(routed, "busy"); // routed to 10 at once
    assert_eq!(st(&fx, busy).1, Some(10));
    let (bad_manual, _) = fx.customer_session(manual, "bad m");
    let (next_manual, _) = fx.customer_session(manual, "next m");
    let (bad_auto, _) = fx.customer_session(routed, "bad a");
    let (next_auto, _) = fx.customer_session(routed, "next a");
    assert_eq!(
        fx.desk.check_integrity(&sys).unwrap(),
        crate::IntegrityReport {
            sessions_checked: 5,
            ..Default::default()
        }
    );

    let store = fx.desk.into_storage();
    let store = damage(store, bad_manual);
    let store = damage(store, bad_auto);
    let fx = Fixture::new(store);
    let d = &fx.desk;

    let (picked, seen) = Capture::run(|| d.pick_up_first_chat_session(&Caller::agent(11)));
    let picked = picked.unwrap().expect("the next session is picked up");
    assert_eq!(picked.chat_session_id, next_manual.0);
    // The skip is reported inside the operation's span, by session id only.
    let skipped: Vec<_> = seen
        .events
        .iter()
        .filter(|e| e.field("during") == Some("pick_up_first_chat_session"))
        .collect();
    assert_eq!(skipped.len(), 1, "{:?}", seen.events);
    assert_eq!(skipped[0].level, tracing::Level::WARN);
    assert_eq!(
        skipped[0].field("session"),
        Some(&*bad_manual.0.to_string())
    );
    assert_eq!(
        seen.span_of(skipped[0]).and_then(|s| s.field("op")),
        Some("pick_up_first_chat_session")
    );

    // Agent 10 closes their chat: the routing pass passes over the damaged
    // session and gives them the next one.
    let ((), seen) = Capture::run(|| {
        d.close_chat_session(&Caller::agent(10), busy).unwrap();
    });
    assert!(
        seen.events
            .iter()
            .any(|e| e.field("session") == Some(&*bad_auto.0.to_string())
                && e.field("during") == Some("routing pass")),
        "{:?}",
        seen.events
    );
    let e = d.get_chat_session_entity(&sys, next_auto).unwrap();
    assert_eq!(e.status, ChatSessionStatus::UserLast);
    assert_eq!(e.user_id().map(|u| u.0), Some(10));

    // The damaged sessions themselves still read as Corrupt, and stay put.
    for id in [bad_manual, bad_auto] {
        corrupt("get", d.get_chat_session_entity(&sys, id));
        corrupt("pick up", d.pick_up_chat_session(&Caller::agent(11), id));
    }
    // Nothing else waits in the manual topic: the damaged one is passed over.
    assert!(
        d.pick_up_first_chat_session(&Caller::agent(11))
            .unwrap()
            .is_none()
    );

    let report = d.check_integrity(&sys).unwrap();
    assert_eq!(report.damaged_sessions, [bad_manual, bad_auto]);
    assert!(report.sessions_with_damaged_messages.is_empty());
    assert!(report.damaged_topics.is_empty());
    assert_eq!(report.sessions_checked, 5);
    assert!(!report.is_clean());
    for caller in [Caller::agent(10), Caller::anonymous()] {
        assert!(matches!(
            d.check_integrity(&caller),
            Err(Error::Forbidden { .. })
        ));
    }
}
