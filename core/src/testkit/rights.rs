//! The session rights table, cell by cell.

use super::Fixture;
use crate::storage::{Storage, StorageExt};
use crate::{Caller, ChatSessionStatus, Error, SessionId, UserId};

/// What the rights table gives: `None` = NotFound, else the TableRight mask as written.
type Cell = Option<&'static str>;

pub fn session_rights_table<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("t");
    fx.member(t, 1, (false, false, true, false)); // manager
    fx.member(t, 2, (false, true, false, false)); // responder
    fx.member(t, 3, (true, false, false, false)); // listener
    fx.member(t, 4, (false, false, false, true)); // notify only
    fx.member(t, 5, (false, true, false, false)); // becomes the User, then leaves
    fx.present(5, true);
    let (queued, key_q) = fx.customer_session(t, "queued");
    let (active, key_a) = fx.customer_session(t, "active");
    let (bot, key_b) = fx.customer_session(t, "bot");
    let (ended, key_e) = fx.customer_session(t, "ended");
    let (deleted, key_d) = fx.customer_session(t, "deleted");
    let user = Caller::agent(5);
    for id in [active, ended, deleted] {
        fx.desk.pick_up_chat_session(&user, id).unwrap().unwrap();
    }
    let set = |id: SessionId, status: ChatSessionStatus, bot: bool| {
        fx.desk
            .storage()
            .write(|tx| {
                let mut s = tx.session(id)?.unwrap();
                s.status = status;
                s.chatbot_is_active = bot;
                tx.put_session(&s)
            })
            .unwrap();
    };
    set(bot, ChatSessionStatus::InQueue, true);
    set(ended, ChatSessionStatus::Closed, false);
    set(deleted, ChatSessionStatus::Deleted, false);
    // The User keeps their sessions whatever their membership now.
    fx.desk
        .delete_chat_topic_user_agent(&fx.sys(), t, UserId(5))
        .unwrap();

    let callers: [(&str, Caller); 10] = [
        ("System", fx.sys()),
        ("manager", Caller::agent(1)),
        ("User", user.clone()),
        ("responder", Caller::agent(2)),
        ("listener", Caller::agent(3)),
        ("notify", Caller::agent(4)),
        ("customer", Caller::anonymous()), // replaced per session below
        ("other customer", Caller::customer(key_q.clone())),
        ("anonymous", Caller::anonymous()),
        ("non-member", Caller::agent(99)),
    ];
    // Rows: sessions; columns: callers in the order above.
    let full = Some("FULL");
    let sel = Some("Select");
    let ur = Some("UR");
    let sd = Some("Select, Delete");
    let table: [(&str, SessionId, &str, [Cell; 10]); 5] = [
        (
            "queued",
            queued,
            &key_q,
            [full, full, None, sel, sel, sel, ur, None, None, None],
        ),
        (
            "active",
            active,
            &key_a,
            [full, full, ur, sel, sel, None, ur, None, None, None],
        ),
        (
            "bot-owned",
            bot,
            &key_b,
            [full, full, None, sel, sel, None, ur, None, None, None],
        ),
        (
            "ended",
            ended,
            &key_e,
            [sd, sd, sel, sel, sel, None, sel, None, None, None],
        ),
        (
            "deleted",
            deleted,
            &key_d,
            [sel, sel, None, None, None, None, None, None, None, None],
        ),
    ];
    let mut cells = 0;
    for (row, id, key, expected) in table {
        for (col, ((who, ctx), want)) in callers.iter().zip(expected).enumerate() {
            let ctx = match col {
                6 => Caller::customer(key.to_string()),
                7 if row == "queued" => Caller::customer(key_a.clone()),
                _ => ctx.clone(),
            };
            let got = fx.desk.get_chat_session_entity(&ctx, id);
            match (want, got) {
                (None, Err(Error::NotFound { .. })) => {}
                (Some(mask), Ok(e)) => {
                    assert_eq!(e.table_right.mask.to_string(), mask, "{row} × {who}");
                    let fp = |f: &str| {
                        e.field_properties
                            .get(f)
                            .unwrap()
                            .field_right
                            .mask
                            .to_string()
                    };
                    let update = mask == "FULL" || mask == "UR";
                    assert_eq!(
                        fp("CustomerName"),
                        if update { "FULL" } else { "Read" },
                        "{row} × {who}"
                    );
                    assert_eq!(fp("SessionKey"), "None");
                    assert_eq!(e.session_key, "");
                    if col == 6 {
                        assert_eq!(fp("Person"), "None", "{row} × {who}");
                        assert_eq!(fp("TransferTo"), "None");
                        assert!(e.person.is_none() && e.transfer_to.is_none());
                        if let Some(u) = &e.user {
                            let keys: Vec<&String> = u.as_map().keys().collect();
                            assert!(keys.iter().all(|k| *k == "AssociateId" || *k == "FullName"));
                        }
                    } else {
                        let nullable = if update {
                            "FULL, Nullable"
                        } else {
                            "Read, Nullable"
                        };
                        assert_eq!(fp("Person"), nullable, "{row} × {who}");
                        assert_eq!(fp("TransferTo"), "Read, Nullable");
                    }
                }
                (want, got) => panic!("{row} × {who}: expected {want:?}, got {got:?}"),
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 50);
}
