//! Creating sessions, the queue, and what each caller sees of a session.

use super::{Fixture, dump};
use crate::storage::Storage;
use crate::wire::{ChatSessionEntity, CustomerFieldFlags};
use crate::{Caller, ChatSessionStatus, Error, SessionId, TopicId};

fn create<S: Storage>(
    fx: &Fixture<S>,
    ctx: &Caller,
    topic: TopicId,
    input: &ChatSessionEntity,
) -> crate::Result<ChatSessionEntity> {
    fx.desk.create_chat_session_for_topic(ctx, topic, input)
}

pub fn first_status_rules<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let anon = Caller::anonymous();
    let input = ChatSessionEntity::default();
    let pre = fx.topic_with("pre", |t| {
        t.widget.pre_form_enabled = true;
        t.widget.auto_faq_enabled = true;
    });
    let faq = fx.topic_with("faq", |t| t.widget.auto_faq_enabled = true);
    let nobody = fx.topic("nobody");
    fx.member(nobody, 20, (false, true, false, false)); // never present
    let absent = fx.topic("absent");
    fx.member(absent, 21, (false, true, false, false));
    fx.present(21, false);
    let staffed = fx.staffed_topic("staffed");
    let status = |t| create(&fx, &anon, t, &input).unwrap().status;
    assert_eq!(status(pre), ChatSessionStatus::PreChatForm);
    assert_eq!(status(faq), ChatSessionStatus::Faq);
    assert_eq!(status(nobody), ChatSessionStatus::OfflineForm);
    assert_eq!(status(absent), ChatSessionStatus::OfflineForm);
    assert_eq!(status(staffed), ChatSessionStatus::InQueue);
    let sys_created = create(&fx, &fx.sys(), staffed, &input).unwrap();
    assert_eq!(sys_created.status, ChatSessionStatus::InQueue);
    assert_eq!(sys_created.chat_session_id, 6);
    assert_eq!(sys_created.initial_queue_pos, 2);
    assert_eq!(sys_created.alert_level, 0);
    assert_eq!(sys_created.rank, 0);
    assert!(sys_created.user.is_none() && sys_created.transfer_to.is_none());
    assert_eq!(
        sys_created.when_requested.to_utc(),
        fx.desk.now().to_datetime()
    );
}

pub fn required_fields_and_consent<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("strict");
    let mut e = fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap();
    e.widget.required_fields = "Email, Name, Company, Phone, Country"
        .parse::<CustomerFieldFlags>()
        .unwrap();
    e.collect_consent = true;
    fx.desk.save_chat_topic_entity(&fx.sys(), &e).unwrap();
    let before = dump(fx.desk.storage());
    let mut input = ChatSessionEntity::default();
    let field = |input: &ChatSessionEntity| match create(&fx, &Caller::anonymous(), t, input) {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected Validation, got {other:?}"),
    };
    assert_eq!(field(&input), "CustomerName");
    input.customer_name = "Ann".into();
    assert_eq!(field(&input), "CustomerEmail");
    input.customer_email = "ann@example.com".into();
    assert_eq!(field(&input), "CustomerPhone");
    input.customer_phone = "123".into();
    assert_eq!(field(&input), "CustomerConsented");
    input.customer_consented = true;
    assert_eq!(field(&input), "CustomerCompanyName");
    assert_eq!(dump(fx.desk.storage()), before, "refusals write nothing");
    input.customer_company_name = "Acme".into();
    let ok = create(&fx, &Caller::anonymous(), t, &input).unwrap();
    if fx.desk.storage().capabilities().gap_free_ids {
        assert_eq!(ok.chat_session_id, 1, "refused creates used no id");
    } else {
        // A backend without gap-free ids may take the id with the locks,
        // before the input is checked: a refusal then leaves a gap.
        assert!(ok.chat_session_id >= 1);
    }
    assert_eq!(ok.status, ChatSessionStatus::InQueue);
    // The check applies on queue entry only: the offline form takes anyone.
    fx.present(10, false);
    let offline = create(&fx, &Caller::anonymous(), t, &ChatSessionEntity::default()).unwrap();
    assert_eq!(offline.status, ChatSessionStatus::OfflineForm);
}

pub fn field_lengths_refused<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    type Setter = fn(&mut ChatSessionEntity, String);
    let cases: [(&str, Setter, usize); 6] = [
        ("CustomerAlias", |e, v| e.customer_alias = v, 64),
        ("CustomerHost", |e, v| e.customer_host = v, 255),
        ("CustomerName", |e, v| e.customer_name = v, 255),
        ("CustomerEmail", |e, v| e.customer_email = v, 255),
        ("CustomerPhone", |e, v| e.customer_phone = v, 32),
        (
            "CustomerCompanyName",
            |e, v| e.customer_company_name = v,
            255,
        ),
    ];
    for (name, set, max) in cases {
        let before = dump(fx.desk.storage());
        let mut bad = ChatSessionEntity::default();
        set(&mut bad, "x".repeat(max + 1));
        match create(&fx, &Caller::anonymous(), t, &bad) {
            Err(Error::Validation { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: expected Validation, got {other:?}"),
        }
        assert_eq!(dump(fx.desk.storage()), before);
        // The limit counts characters, not bytes.
        let mut ok = ChatSessionEntity::default();
        set(&mut ok, "é".repeat(max));
        assert!(create(&fx, &Caller::anonymous(), t, &ok).is_ok(), "{name}");
    }
}

pub fn session_key_only_at_create<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let created = create(&fx, &Caller::anonymous(), t, &ChatSessionEntity::default()).unwrap();
    let key = created.session_key.clone();
    assert_eq!(key.len(), 43);
    assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    // Logs never show it: Debug of the carrier (and of a caller) redacts it.
    for shown in [
        format!("{created:?}"),
        format!("{created:#?}"),
        format!("{:?}", Caller::customer(key.clone())),
    ] {
        assert!(
            !shown.contains(&key),
            "the key leaks through Debug: {shown}"
        );
    }
    assert!(format!("{created:?}").contains("session_key: \"…\""));
    let id = SessionId(created.chat_session_id);
    let key_prop = created.field_properties.get("SessionKey").unwrap();
    assert_eq!(key_prop.field_right.mask.to_string(), "None");
    assert_eq!(created.table_right.mask.to_string(), "UR");
    let mine = fx
        .desk
        .get_chat_session_entity(&Caller::customer(key.clone()), id)
        .unwrap();
    assert_eq!(mine.session_key, "");
    assert_eq!(mine.chat_session_id, id.0);
    let sys = fx.desk.get_chat_session_entity(&fx.sys(), id).unwrap();
    assert_eq!(sys.session_key, "");
    // A wrong key, or a right key for another id: NotFound, no hint.
    let other = create(&fx, &Caller::anonymous(), t, &ChatSessionEntity::default()).unwrap();
    for (k, i) in [
        ("not-a-key".to_string(), id),
        (key.clone(), SessionId(other.chat_session_id)),
        (key.clone(), SessionId(99)),
    ] {
        assert!(matches!(
            fx.desk.get_chat_session_entity(&Caller::customer(k), i),
            Err(Error::NotFound { .. })
        ));
    }
    // The store keeps only the key's hash.
    assert!(!dump(fx.desk.storage()).contains(&key));
}

pub fn queue_sequence_and_positions<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.staffed_topic("a");
    let b = fx.topic("b");
    fx.member(b, 10, (false, true, false, false));
    let mut ids = Vec::new();
    for i in 0..4 {
        let t = if i % 2 == 0 { a } else { b };
        ids.push((t, fx.customer_session(t, &format!("c{i}")).0));
    }
    let pos = |id| fx.desk.get_queue_position(&fx.sys(), id).unwrap();
    assert_eq!(pos(ids[0].1), Some(1));
    assert_eq!(pos(ids[1].1), Some(1));
    assert_eq!(pos(ids[2].1), Some(2));
    assert_eq!(pos(ids[3].1), Some(2));
    for (i, (_, id)) in ids.iter().enumerate() {
        let e = fx.desk.get_chat_session_entity(&fx.sys(), *id).unwrap();
        assert_eq!(e.initial_queue_pos, i32::try_from(i / 2 + 1).unwrap());
    }
    // Leaving the queue moves those behind up; InitialQueuePos stays.
    use crate::storage::StorageExt;
    fx.desk
        .storage()
        .write(|tx| {
            let mut s = tx.session(ids[0].1)?.unwrap();
            s.status = ChatSessionStatus::ClosedFromQueue;
            tx.put_session(&s)
        })
        .unwrap();
    assert_eq!(pos(ids[0].1), None);
    assert_eq!(pos(ids[2].1), Some(1));
    let e = fx
        .desk
        .get_chat_session_entity(&fx.sys(), ids[2].1)
        .unwrap();
    assert_eq!(e.initial_queue_pos, 2);
    // The customer may ask for their own position.
    let (id, key) = fx.customer_session(a, "late");
    assert_eq!(
        fx.desk
            .get_queue_position(&Caller::customer(key), id)
            .unwrap(),
        Some(2)
    );
}

pub fn bot_sessions_are_not_in_the_human_queue<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("bot", |t| {
        t.bot_enabled = true;
        t.bot_settings.bot_name = "Robo".into();
    });
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let (id, _) = fx.customer_session(t, "c");
    let e = fx.desk.get_chat_session_entity(&fx.sys(), id).unwrap();
    assert!(e.chatbot_is_active);
    assert_eq!(e.status, ChatSessionStatus::InQueue);
    assert_eq!(e.initial_queue_pos, 0);
    assert_eq!(fx.desk.get_queue_position(&fx.sys(), id).unwrap(), None);
}

pub fn session_rights_per_caller<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    fx.member(t, 1, (false, false, true, false)); // manager
    fx.member(t, 2, (true, false, false, false)); // listener
    fx.member(t, 3, (false, false, false, true)); // notify only
    let (id, key) = fx.customer_session(t, "c");
    let get = |ctx: &Caller| fx.desk.get_chat_session_entity(ctx, id);
    let mask = |e: &ChatSessionEntity, f: &str| {
        e.field_properties
            .get(f)
            .unwrap()
            .field_right
            .mask
            .to_string()
    };
    let sys = get(&fx.sys()).unwrap();
    assert_eq!(sys.table_right.mask.to_string(), "FULL");
    assert_eq!(sys.field_properties.len(), 31);
    assert_eq!(mask(&sys, "CustomerName"), "FULL");
    assert_eq!(mask(&sys, "Person"), "FULL, Nullable");
    assert_eq!(mask(&sys, "User"), "Read, Nullable");
    assert_eq!(mask(&sys, "Status"), "Read");
    assert_eq!(mask(&sys, "SessionKey"), "None");
    let fp = sys.field_properties.get("CustomerPhone").unwrap();
    assert_eq!(
        (fp.field_type.as_str(), fp.field_length),
        ("System.String", 32)
    );
    assert_eq!(
        sys.field_properties.get("Status").unwrap().field_type,
        "ChatSessionStatus"
    );
    assert_eq!(
        sys.field_properties.get("User").unwrap().field_type,
        "Associate"
    );
    assert_eq!(
        get(&Caller::agent(1)).unwrap().table_right.mask.to_string(),
        "FULL"
    );
    let listener = get(&Caller::agent(2)).unwrap();
    assert_eq!(listener.table_right.mask.to_string(), "Select");
    assert_eq!(mask(&listener, "CustomerName"), "Read");
    assert_eq!(
        get(&Caller::agent(10))
            .unwrap()
            .table_right
            .mask
            .to_string(),
        "Select"
    );
    assert_eq!(
        get(&Caller::agent(3)).unwrap().table_right.mask.to_string(),
        "Select"
    );
    assert!(matches!(
        get(&Caller::agent(4)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        get(&Caller::anonymous()),
        Err(Error::NotFound { .. })
    ));
    let cust = get(&Caller::customer(key)).unwrap();
    assert_eq!(cust.table_right.mask.to_string(), "UR");
    assert_eq!(mask(&cust, "Person"), "None");
    assert_eq!(mask(&cust, "TransferTo"), "None");
    assert_eq!(mask(&cust, "CustomerEmail"), "FULL");
    assert_eq!(mask(&cust, "User"), "Read, Nullable");
    // A notify-only member sees the human queue only.
    let bot = fx.topic_with("bot", |t| t.bot_enabled = true);
    fx.member(bot, 3, (false, false, false, true));
    fx.member(bot, 10, (false, true, false, false));
    let (bot_id, _) = fx.customer_session(bot, "b");
    assert!(matches!(
        fx.desk.get_chat_session_entity(&Caller::agent(3), bot_id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        fx.desk
            .get_chat_session_entity(&Caller::agent(10), bot_id)
            .unwrap()
            .table_right
            .mask
            .to_string(),
        "Select"
    );
}

pub fn create_refusals<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (_, key) = fx.customer_session(t, "c");
    let before = dump(fx.desk.storage());
    let input = ChatSessionEntity::default();
    assert!(matches!(
        create(&fx, &Caller::anonymous(), TopicId(9), &input),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        create(&fx, &Caller::agent(10), t, &input),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        create(&fx, &Caller::customer(key), t, &input),
        Err(Error::Forbidden { .. })
    ));
    assert_eq!(dump(fx.desk.storage()), before);
}

pub fn carrier_times_in_caller_zone<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (id, _) = fx.customer_session(t, "c");
    let utc =
        serde_json::to_value(fx.desk.get_chat_session_entity(&fx.sys(), id).unwrap()).unwrap();
    assert_eq!(utc["WhenRequested"], "2024-01-01T09:00:00.0000000+00:00");
    assert_eq!(utc["WhenStarted"], "0001-01-01T00:00:00");
    let oslo = Caller::system().with_zone("Europe/Oslo").unwrap();
    let local = serde_json::to_value(fx.desk.get_chat_session_entity(&oslo, id).unwrap()).unwrap();
    assert_eq!(local["WhenRequested"], "2024-01-01T10:00:00.0000000+01:00");
    assert_eq!(local["SessionKey"], "");
    assert_eq!(local["Rating"], 0);
}

pub fn queue_text_placeholders<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("t", |t| {
        t.custom_queue_text_enabled = true;
        t.custom_queue_text = "You are number {cque}; wait about {cavw}.".into();
    });
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let plain = fx.staffed_topic("plain");
    let (a, key_a) = fx.customer_session(t, "a");
    let (b, _) = fx.customer_session(t, "b");
    let (c, _) = fx.customer_session(plain, "c");
    let text = |ctx: &Caller, id| fx.desk.get_queue_text(ctx, id).unwrap();
    assert_eq!(
        text(&Caller::customer(key_a), a),
        "You are number 1; wait about 00:00."
    );
    // The first customer waits 3 725 s: SecondsPrAccept = 3725 → {cavw} 01:02.
    fx.clock.advance_secs(3725);
    fx.desk
        .pick_up_chat_session(&Caller::agent(10), a)
        .unwrap()
        .unwrap();
    assert_eq!(text(&fx.sys(), b), "You are number 1; wait about 01:02.");
    assert_eq!(text(&fx.sys(), a), "You are number ; wait about 01:02.");
    assert_eq!(text(&fx.sys(), c), "", "CustomQueueTextEnabled off");
}

pub fn a_customer_polling_their_position_is_not_dead<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("t");
    let (id, key) = fx.customer_session(t, "patient");
    let customer = Caller::customer(key);
    for _ in 0..3 {
        fx.clock.advance_secs(120);
        assert_eq!(fx.desk.get_queue_position(&customer, id).unwrap(), Some(1));
        assert!(fx.desk.idle_sweep(&fx.sys()).unwrap().is_empty());
    }
    // Reading the session counts too; polling within 5 s writes nothing.
    fx.clock.advance_secs(120);
    let seen = fx.desk.get_chat_session_entity(&customer, id).unwrap();
    let before = dump(fx.desk.storage());
    fx.clock.advance_secs(3);
    fx.desk.get_queue_text(&customer, id).unwrap();
    assert_eq!(dump(fx.desk.storage()), before);
    assert_eq!(
        seen.when_fetched.to_utc(),
        fx.desk.now().plus_seconds(-3).to_datetime()
    );
    // Silence past the dead-customer limit (3 min) closes it from the queue.
    fx.clock.advance_secs(178);
    let closed = fx.desk.idle_sweep(&fx.sys()).unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].to, ChatSessionStatus::ClosedFromQueue);
}
