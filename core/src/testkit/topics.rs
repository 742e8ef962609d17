//! Topics, memberships, presence and opening hours.

use super::{Fixture, dump};
use crate::storage::Storage;
use crate::wire::{ChatPresence, ChatTopicAgent, ChatTopicEntity, TimeZoneData};
use crate::{Associate, Caller, Error, TopicId, UserId};

pub fn topic_ids_start_at_one_and_zero_creates<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let a = fx.topic("Sales");
    let b = fx.topic("Support");
    assert_eq!((a.0, b.0), (1, 2));
    let mut t = fx.desk.get_chat_topic_entity(&fx.sys(), a).unwrap();
    assert_eq!(t.name, "Sales");
    t.welcome_message = "Hello".into();
    t.seconds_pr_accept = 999; // kept by pick-ups, ignored on save
    let saved = fx.desk.save_chat_topic_entity(&fx.sys(), &t).unwrap();
    assert_eq!(saved.chat_topic_id, 1);
    assert_eq!(saved.welcome_message, "Hello");
    assert_eq!(saved.seconds_pr_accept, 0);
    let again = fx.desk.get_chat_topic_entity(&fx.sys(), a).unwrap();
    assert_eq!(again.welcome_message, "Hello");
    assert_eq!(fx.desk.chat_topics_for_user(&fx.sys()).unwrap().len(), 2);
}

/// Topic texts and a presence's DisplayName have limits: over one is
/// Validation naming the field, the first in carrier order; nothing is written.
pub fn topic_and_presence_lengths<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("Sales");
    let before = dump(fx.desk.storage());
    let field_of = |r: crate::Result<ChatTopicEntity>| match r {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected Validation, got {other:?}"),
    };
    let base = fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap();
    let long = |n: usize| "x".repeat(n);
    // At the limit is fine; one over is refused.
    let mut e = base.clone();
    e.name = long(255);
    e.description = long(4000);
    e.widget.color = long(255);
    e.bot_settings.bot_name = long(255);
    fx.desk.save_chat_topic_entity(&fx.sys(), &e).unwrap();
    type Edit = fn(&mut ChatTopicEntity);
    let cases: [(&str, Edit); 7] = [
        ("Name", |e| e.name = "n".repeat(256)),
        ("Description", |e| e.description = "d".repeat(4001)),
        ("CustomQueueText", |e| {
            e.custom_queue_text = "q".repeat(4001)
        }),
        ("OpeningHours.SunStart", |e| {
            e.opening_hours.sun_start = "9".repeat(256)
        }),
        ("Widget.Color", |e| e.widget.color = "c".repeat(256)),
        ("BotSettings.BotName", |e| {
            e.bot_settings.bot_name = "b".repeat(256)
        }),
        ("WidgetRatingText", |e| {
            e.widget_rating_text = "r".repeat(256)
        }),
    ];
    for (field, edit) in cases {
        let mut e = base.clone();
        edit(&mut e);
        assert_eq!(
            field_of(fx.desk.save_chat_topic_entity(&fx.sys(), &e)),
            field
        );
    }
    // Several over: the first in carrier order.
    let mut e = base.clone();
    e.widget_rating_text = long(300);
    e.widget.font = long(300);
    e.badge_header = long(300);
    assert_eq!(
        field_of(fx.desk.save_chat_topic_entity(&fx.sys(), &e)),
        "BadgeHeader"
    );
    // A 10 MB name is refused too (and nothing half-written).
    let mut e = base.clone();
    e.name = long(10 << 20);
    assert_eq!(
        field_of(fx.desk.save_chat_topic_entity(&fx.sys(), &e)),
        "Name"
    );
    // FieldLength tells the limits.
    let props = &base.field_properties;
    assert_eq!(props.get("Name").unwrap().field_length, 255);
    assert_eq!(props.get("Description").unwrap().field_length, 4000);
    // DisplayName: at most 255 (it signs the agent's messages).
    let p = ChatPresence {
        user_id: 7,
        display_name: "p".repeat(256),
        ..ChatPresence::default()
    };
    match fx.desk.save_chat_presence(&Caller::agent(7), &p) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "DisplayName"),
        other => panic!("expected Validation, got {other:?}"),
    }
    let all = [p.clone(), ChatPresence { user_id: 8, ..p }];
    assert!(fx.desk.save_all_chat_presence(&fx.sys(), &all).is_err());
    let saved = fx
        .desk
        .save_chat_presence(
            &Caller::agent(7),
            &ChatPresence {
                user_id: 7,
                display_name: "p".repeat(255),
                ..ChatPresence::default()
            },
        )
        .unwrap();
    assert_eq!(
        saved
            .field_properties
            .get("DisplayName")
            .unwrap()
            .field_length,
        255
    );
    let after_refusals = dump(fx.desk.storage());
    assert_ne!(before, after_refusals, "the accepted saves were written");
}

pub fn topic_save_refusals<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("Sales");
    fx.member(t, 7, (true, false, false, false));
    let before = dump(fx.desk.storage());
    let mut e = fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap();
    e.chat_topic_id = 99;
    assert!(matches!(
        fx.desk.save_chat_topic_entity(&fx.sys(), &e),
        Err(Error::NotFound { .. })
    ));
    e.chat_topic_id = t.0;
    // A listener may not save; a non-member does not see the topic.
    assert!(matches!(
        fx.desk.save_chat_topic_entity(&Caller::agent(7), &e),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        fx.desk.save_chat_topic_entity(&Caller::agent(8), &e),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fx.desk.save_chat_topic_entity(&Caller::anonymous(), &e),
        Err(Error::Forbidden { .. })
    ));
    // Bad times, only where they are read.
    e.opening_hours_enabled = true;
    e.opening_hours.mon_enabled = true;
    e.opening_hours.mon_start = "8 o'clock".into();
    e.opening_hours.mon_stop = "17:00".into();
    match fx.desk.save_chat_topic_entity(&fx.sys(), &e) {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "OpeningHours.MonStart"),
        other => panic!("expected Validation, got {other:?}"),
    }
    e.opening_hours.mon_enabled = false;
    e.opening_hours.tue_start = "garbage".into();
    let mut bad_zone = e.clone();
    bad_zone.opening_hours.tz_location = Some(
        TimeZoneData::from_map(
            serde_json::json!({"TZLocationCode": "Mars/Olympus"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .unwrap(),
    );
    match fx.desk.save_chat_topic_entity(&fx.sys(), &bad_zone) {
        Err(Error::Validation { field, .. }) => {
            assert_eq!(field, "OpeningHours.TzLocation.TZLocationCode")
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(dump(fx.desk.storage()), before);
    // Times of a disabled day are kept as given and never read.
    let saved = fx.desk.save_chat_topic_entity(&fx.sys(), &e).unwrap();
    assert_eq!(saved.opening_hours.tue_start, "garbage");
    // Agents do not create topics.
    let mut new = fx.desk.create_default_chat_topic_entity(&fx.sys());
    new.name = "x".into();
    assert!(matches!(
        fx.desk.save_chat_topic_entity(&Caller::agent(7), &new),
        Err(Error::Forbidden { .. })
    ));
}

pub fn topic_views_per_caller<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic_with("Sales", |t| {
        t.description = "internal".into();
        t.welcome_message = "Hi".into();
        t.warn_new_chat_minutes = 5;
        t.widget.pre_form_message = "Who are you?".into();
    });
    fx.member(t, 1, (false, false, true, false));
    fx.member(t, 2, (true, false, false, false));
    let mask = |ctx: &Caller, field: &str| {
        let e = fx.desk.get_chat_topic_entity(ctx, t).unwrap();
        e.field_properties
            .get(field)
            .map(|p| p.field_right.mask.to_string())
            .unwrap()
    };
    let sys = fx.desk.get_chat_topic_entity(&fx.sys(), t).unwrap();
    assert_eq!(sys.table_right.mask.to_string(), "FULL");
    assert_eq!(sys.field_properties.len(), 31);
    assert_eq!(mask(&fx.sys(), "ChatTopicId"), "FULL");
    assert_eq!(mask(&Caller::agent(1), "ChatTopicId"), "Read");
    assert_eq!(mask(&Caller::agent(1), "SecondsPrAccept"), "Read");
    assert_eq!(mask(&Caller::agent(1), "Name"), "FULL");
    assert_eq!(mask(&Caller::agent(1), "Language"), "FULL, Nullable");
    assert_eq!(mask(&Caller::agent(2), "Name"), "Read");
    assert_eq!(mask(&Caller::anonymous(), "Name"), "Read");
    assert_eq!(mask(&Caller::anonymous(), "Description"), "None");
    assert_eq!(mask(&Caller::anonymous(), "Widget"), "Read");
    let cust = fx
        .desk
        .get_chat_topic_entity(&Caller::anonymous(), t)
        .unwrap();
    assert_eq!(cust.description, "");
    assert_eq!(cust.warn_new_chat_minutes, 0);
    assert_eq!(cust.welcome_message, "Hi");
    assert_eq!(cust.widget.pre_form_message, "Who are you?");
    assert_eq!(cust.table_right.mask.to_string(), "Select");
    let member = fx.desk.get_chat_topic_entity(&Caller::agent(2), t).unwrap();
    assert_eq!(member.description, "internal");
    assert!(matches!(
        fx.desk.get_chat_topic_entity(&Caller::agent(3), t),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fx.desk.get_chat_topic_entity(&fx.sys(), TopicId(42)),
        Err(Error::NotFound { .. })
    ));
    let mine = fx.desk.chat_topics_for_user(&Caller::agent(2)).unwrap();
    assert_eq!(mine.len(), 1);
    assert!(
        fx.desk
            .chat_topics_for_user(&Caller::agent(3))
            .unwrap()
            .is_empty()
    );
    assert!(
        fx.desk
            .chat_topics_for_user(&Caller::anonymous())
            .unwrap()
            .is_empty()
    );
}

pub fn topic_delete_rules<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.staffed_topic("Sales");
    fx.member(t, 2, (false, false, true, false));
    let (s, _) = fx.customer_session(t, "cust");
    let before = dump(fx.desk.storage());
    assert!(matches!(
        fx.desk.delete_chat_topic_entity(&fx.sys(), t),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        fx.desk.delete_chat_topic_entity(&Caller::agent(10), t),
        Err(Error::Forbidden { .. })
    ));
    assert_eq!(dump(fx.desk.storage()), before);
    // Close the session from the store side (the lifecycle has its own tests).
    use crate::storage::StorageExt;
    fx.desk
        .storage()
        .write(|tx| {
            let mut rec = tx.session(s)?.unwrap();
            rec.status = crate::ChatSessionStatus::Closed;
            tx.put_session(&rec)
        })
        .unwrap();
    fx.desk
        .delete_chat_topic_entity(&Caller::agent(2), t)
        .unwrap();
    assert!(matches!(
        fx.desk.get_chat_topic_entity(&fx.sys(), t),
        Err(Error::NotFound { .. })
    ));
    let all = fx.desk.get_user_agent_list(&fx.sys()).unwrap();
    assert!(all.is_empty());
    let rec = fx.desk.get_chat_session_entity(&fx.sys(), s).unwrap();
    assert_eq!(rec.status, crate::ChatSessionStatus::Deleted);
    assert!(matches!(
        fx.desk.delete_chat_topic_entity(&fx.sys(), t),
        Err(Error::NotFound { .. })
    ));
}

fn agent(topic: TopicId, user: i32, r: (bool, bool, bool, bool)) -> ChatTopicAgent {
    ChatTopicAgent {
        topic_id: topic.0,
        user: Some(Associate::with_id(user)),
        can_listen: r.0,
        can_respond: r.1,
        can_manage: r.2,
        can_notify: r.3,
    }
}

pub fn membership_rules<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("Sales");
    let u = fx.topic("Support");
    let sys = fx.sys();
    let before = dump(fx.desk.storage());
    match fx
        .desk
        .add_chat_topic_user_agent(&sys, &agent(t, 1, (false, false, false, false)))
    {
        Err(Error::Validation { .. }) => {}
        other => panic!("expected Validation, got {other:?}"),
    }
    assert!(matches!(
        fx.desk
            .add_chat_topic_user_agent(&sys, &agent(TopicId(9), 1, (true, false, false, false))),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(dump(fx.desk.storage()), before);
    fx.desk
        .add_chat_topic_user_agent(&sys, &agent(t, 1, (false, false, true, false)))
        .unwrap();
    // A manager adds members to their topic, not to others.
    let mgr = Caller::agent(1);
    fx.desk
        .add_chat_topic_user_agent(&mgr, &agent(t, 2, (true, true, false, false)))
        .unwrap();
    assert!(matches!(
        fx.desk
            .add_chat_topic_user_agent(&mgr, &agent(u, 2, (true, false, false, false))),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fx.desk.add_chat_topic_user_agent(
            &Caller::agent(2),
            &agent(t, 3, (true, false, false, false))
        ),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        fx.desk
            .add_chat_topic_user_agent(&sys, &agent(t, 2, (true, false, false, false))),
        Err(Error::Conflict { .. })
    ));
    let list = fx
        .desk
        .get_chat_topic_user_agent_list(&Caller::agent(2), t)
        .unwrap();
    let users: Vec<_> = list
        .iter()
        .map(|a| a.user.as_ref().and_then(|u| u.id()))
        .collect();
    assert_eq!(users, vec![Some(1), Some(2)]);
    assert!(matches!(
        fx.desk
            .get_chat_topic_user_agent_list(&Caller::anonymous(), t),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        fx.desk.get_chat_topic_user_agent_list(&Caller::agent(5), t),
        Err(Error::NotFound { .. })
    ));
    // Update, then update to all-false removes.
    fx.desk
        .update_chat_topic_user_agent(&sys, &agent(t, 2, (false, false, false, true)))
        .unwrap();
    let one = fx
        .desk
        .get_chat_topic_user_agent(&sys, t, UserId(2))
        .unwrap();
    assert!(one.can_notify && !one.can_respond);
    fx.desk
        .update_chat_topic_user_agent(&sys, &agent(t, 2, (false, false, false, false)))
        .unwrap();
    assert!(matches!(
        fx.desk.get_chat_topic_user_agent(&sys, t, UserId(2)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fx.desk
            .update_chat_topic_user_agent(&sys, &agent(t, 9, (true, false, false, false))),
        Err(Error::NotFound { .. })
    ));
    // Several at once: all or nothing.
    let before = dump(fx.desk.storage());
    let r = fx.desk.update_chat_topic_user_agents(
        &sys,
        &[
            agent(t, 4, (true, false, false, false)),
            agent(TopicId(77), 5, (true, false, false, false)),
        ],
    );
    assert!(matches!(r, Err(Error::NotFound { .. })));
    assert_eq!(dump(fx.desk.storage()), before);
    fx.desk
        .update_chat_topic_user_agents(
            &sys,
            &[
                agent(t, 4, (true, false, false, false)),
                agent(u, 4, (false, true, false, false)),
            ],
        )
        .unwrap();
    assert_eq!(fx.desk.get_user_agent_list(&sys).unwrap().len(), 3);
    // A manager sees the memberships of the topics they manage only.
    assert_eq!(fx.desk.get_user_agent_list(&mgr).unwrap().len(), 2);
    assert!(
        fx.desk
            .get_user_agent_list(&Caller::agent(4))
            .unwrap()
            .is_empty()
    );
    fx.desk
        .delete_chat_topic_user_agent(&sys, t, UserId(4))
        .unwrap();
    assert!(matches!(
        fx.desk.delete_chat_topic_user_agent(&sys, t, UserId(4)),
        Err(Error::NotFound { .. })
    ));
}

pub fn presence_defaults_and_rights<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let t = fx.topic("Sales");
    fx.member(t, 3, (false, true, false, false));
    let p = fx
        .desk
        .get_chat_presence(&Caller::agent(4), UserId(3))
        .unwrap();
    assert!(!p.present);
    assert_eq!(p.display_name, "");
    assert_eq!(p.chat_topics, vec![1]);
    assert_eq!(p.ongoing_chats, 0);
    let mine = ChatPresence {
        user_id: 3,
        present: true,
        display_name: "Anna".into(),
        ..ChatPresence::default()
    };
    assert!(matches!(
        fx.desk.save_chat_presence(&Caller::agent(4), &mine),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        fx.desk.get_chat_presence(&Caller::anonymous(), UserId(3)),
        Err(Error::Forbidden { .. })
    ));
    let saved = fx
        .desk
        .save_chat_presence(&Caller::agent(3), &mine)
        .unwrap();
    assert!(saved.present);
    let f = |p: &ChatPresence, n: &str| {
        p.field_properties
            .get(n)
            .map(|x| x.field_right.mask.to_string())
            .unwrap()
    };
    assert_eq!(f(&saved, "Present"), "FULL");
    let other = fx
        .desk
        .get_chat_presence(&Caller::agent(4), UserId(3))
        .unwrap();
    assert_eq!(f(&other, "Present"), "Read");
    assert_eq!(other.display_name, "Anna");
    fx.present(8, false);
    let all = fx.desk.get_all_chat_presence(&fx.sys()).unwrap();
    assert_eq!(
        all.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        vec![3, 8]
    );
}

pub fn opening_hours_basic<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    // 2024-01-01 is a Monday; the clock stands at 09:00Z = 10:00 in Oslo.
    let t = fx.topic_with("Oslo", |t| {
        t.opening_hours_enabled = true;
        let oh = &mut t.opening_hours;
        oh.tz_location = Some(
            TimeZoneData::from_map(
                serde_json::json!({"TZLocationCode": "Europe/Oslo"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )
            .unwrap(),
        );
        oh.mon_enabled = true;
        oh.mon_start = "08:00".into();
        oh.mon_stop = "10:00".into();
        oh.use_lunch_hours = true;
        oh.lunch_start = "11:30".into();
        oh.lunch_stop = "12:00".into();
    });
    let open = |fx: &Fixture<S>| fx.desk.is_within_opening_hours(&fx.sys(), t).unwrap();
    assert!(!open(&fx), "10:00 Oslo is the Stop: closed");
    fx.clock.advance_secs(-60);
    assert!(open(&fx), "09:59 Oslo is open");
    fx.clock.advance_secs(-2 * 3600 + 60);
    assert!(open(&fx), "08:00 Oslo is open (Start inclusive)");
    fx.clock.advance_secs(-1);
    assert!(!open(&fx));
    // A session asked for while closed goes to the offline form.
    fx.member(t, 10, (false, true, false, false));
    fx.present(10, true);
    let (s, _) = fx.customer_session(t, "x");
    let e = fx.desk.get_chat_session_entity(&fx.sys(), s).unwrap();
    assert_eq!(e.status, crate::ChatSessionStatus::OfflineForm);
}
