//! `save_chat_session_entity`: writable fields, stale carriers, refusals.

use super::{Fixture, dump};
use crate::storage::{Storage, StorageExt};
use crate::wire::Person;
use crate::{Caller, ChatSessionStatus, Error};

pub fn save_session_rules<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    fx.member(t, 2, (true, false, false, false)); // listener
    let (id, key) = fx.customer_session(t, "c");
    let sys = fx.sys();
    let customer = Caller::customer(key);

    // System links a person and renames the customer.
    let mut e = fx.desk.get_chat_session_entity(&sys, id).unwrap();
    e.customer_name = "Ann".into();
    e.person = Some(Person::with_id(5));
    e.first_message = "ignored: not writable".into();
    let saved = fx.desk.save_chat_session_entity(&sys, &e).unwrap();
    assert_eq!(saved.customer_name, "Ann");
    assert_eq!(saved.person.as_ref().and_then(|p| p.id()), Some(5));
    assert_eq!(saved.first_message, "");

    // No difference: succeeds and writes nothing.
    let before = dump(fx.desk.storage());
    fx.desk.save_chat_session_entity(&sys, &saved).unwrap();
    assert_eq!(dump(fx.desk.storage()), before);

    // Refusals, in the documented order, and nothing written.
    let mut zero = saved.clone();
    zero.chat_session_id = 0;
    assert!(matches!(
        fx.desk.save_chat_session_entity(&sys, &zero),
        Err(Error::NotFound { .. })
    ));
    let mut stale = saved.clone();
    stale.status = ChatSessionStatus::UserLast;
    stale.customer_alias = "x".repeat(65);
    assert!(matches!(
        fx.desk.save_chat_session_entity(&sys, &stale),
        Err(Error::Conflict { .. })
    ));
    let mut long = saved.clone();
    long.customer_alias = "x".repeat(65);
    match fx.desk.save_chat_session_entity(&sys, &long) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "CustomerAlias"),
        other => panic!("expected Validation, got {other:?}"),
    }
    let listener = Caller::agent(2);
    let mut theirs = fx.desk.get_chat_session_entity(&listener, id).unwrap();
    theirs.customer_phone = "123".into();
    theirs.customer_alias = "changed".into();
    match fx.desk.save_chat_session_entity(&listener, &theirs) {
        Err(Error::FieldRightDenied { field, .. }) => assert_eq!(field, "CustomerAlias"),
        other => panic!("expected FieldRightDenied, got {other:?}"),
    }
    assert!(matches!(
        fx.desk
            .save_chat_session_entity(&Caller::agent(99), &theirs),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(dump(fx.desk.storage()), before);

    // The customer may write their fields; hidden links are not compared.
    let mut mine = fx.desk.get_chat_session_entity(&customer, id).unwrap();
    assert!(mine.person.is_none());
    mine.customer_phone = "555".into();
    let after = fx.desk.save_chat_session_entity(&customer, &mine).unwrap();
    assert_eq!(after.customer_phone, "555");
    let seen_by_host = fx.desk.get_chat_session_entity(&sys, id).unwrap();
    assert_eq!(seen_by_host.person.as_ref().and_then(|p| p.id()), Some(5));
    assert_eq!(seen_by_host.customer_phone, "555");

    // Once ended, the customer only reads: any difference is denied.
    fx.desk
        .storage()
        .write(|tx| {
            let mut s = tx.session(id)?.unwrap();
            s.status = ChatSessionStatus::Closed;
            tx.put_session(&s)
        })
        .unwrap();
    let mut ended = fx.desk.get_chat_session_entity(&customer, id).unwrap();
    assert_eq!(ended.table_right.mask.to_string(), "Select");
    ended.customer_email = "a@b.c".into();
    match fx.desk.save_chat_session_entity(&customer, &ended) {
        Err(Error::FieldRightDenied { field, .. }) => assert_eq!(field, "CustomerEmail"),
        other => panic!("expected FieldRightDenied, got {other:?}"),
    }
}
