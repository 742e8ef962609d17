//! The operations the state machine draws, and how a case is set up.
//! Operations name sessions by a number taken modulo the sessions created
//! so far (creation order), and callers by a selector resolved against the
//! model, so that every drawn sequence is valid and shrinks well.

use super::reference::{Customer, RoutingCfg, TopicCfg};
use proptest::prelude::*;

/// Who calls: resolved by the driver (see `Driver::who`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerSel(pub u8, pub u8);

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Create {
        topic: u8,
        caller: CallerSel,
        fields: Customer,
    },
    Submit {
        s: u8,
        caller: CallerSel,
        fields: Customer,
    },
    FaqAnswered {
        s: u8,
        caller: CallerSel,
    },
    FaqNotHelped {
        s: u8,
        caller: CallerSel,
    },
    Offline {
        s: u8,
        caller: CallerSel,
        too_long: bool,
    },
    PickUp {
        s: u8,
        caller: CallerSel,
    },
    PickUpFirst {
        caller: CallerSel,
    },
    Message {
        s: u8,
        caller: CallerSel,
        special: u8,
        too_long: bool,
    },
    Reset {
        s: u8,
        caller: CallerSel,
    },
    Transfer {
        s: u8,
        caller: CallerSel,
        to: u8,
    },
    Accept {
        s: u8,
        caller: CallerSel,
    },
    Reject {
        s: u8,
        caller: CallerSel,
    },
    Close {
        s: u8,
        caller: CallerSel,
    },
    Reopen {
        s: u8,
        caller: CallerSel,
    },
    Finish {
        s: u8,
        caller: CallerSel,
        rating: i32,
    },
    Delete {
        s: u8,
        caller: CallerSel,
    },
    Save {
        s: u8,
        caller: CallerSel,
        stale: bool,
        alias_too_long: bool,
    },
    Get {
        s: u8,
        caller: CallerSel,
    },
    Position {
        s: u8,
        caller: CallerSel,
    },
    Fetch {
        s: u8,
        caller: CallerSel,
    },
    Member {
        topic: u8,
        user: u8,
        rights: u8,
        caller: CallerSel,
    },
    Presence {
        user: u8,
        present: bool,
    },
    Clock {
        secs: i64,
    },
    IdleSweep,
    AlertSweep,
    Purge {
        caller: CallerSel,
    },
    /// save_chat_topic_routing (numbers may be out of range).
    SaveRouting {
        topic: u8,
        caller: CallerSel,
        routing: RoutingCfg,
    },
    GetRouting {
        topic: u8,
        caller: CallerSel,
    },
    /// save_chat_agent_capacity (MaxChats may be out of range).
    SaveCapacity {
        user: u8,
        caller: CallerSel,
        max: Option<i32>,
    },
    GetCapacity {
        user: u8,
        caller: CallerSel,
    },
    RoutingSweep {
        caller: CallerSel,
    },
    Explain {
        s: u8,
        caller: CallerSel,
    },
}

/// Number of topics per case (one more index means "an unknown topic").
pub const TOPICS: usize = 3;
/// Agents are users 1..=AGENTS.
pub const AGENTS: u8 = 4;

fn caller() -> impl Strategy<Value = CallerSel> {
    (any::<u8>(), any::<u8>()).prop_map(|(a, b)| CallerSel(a, b))
}

fn customer() -> impl Strategy<Value = Customer> {
    (any::<bool>(), any::<bool>(), any::<bool>(), 0u8..20).prop_map(|(n, e, c, bad)| Customer {
        name: if n { "Ann".into() } else { String::new() },
        email: if e {
            "ann@example.com".into()
        } else {
            String::new()
        },
        consented: c,
        alias_too_long: bad == 0,
    })
}

fn clock() -> impl Strategy<Value = i64> {
    prop_oneof![
        16 => 0i64..=30,
        8 => 31i64..=200,
        3 => 201i64..=2400,
        3 => -900i64..=-1,
        1 => 2401i64..=30_000,
        1 => 86_400i64..=100_000,
    ]
}

/// A timeout setting: mostly off or short enough for the clock's moves to
/// reach it, sometimes out of range when `valid` is false.
fn timeout(valid: bool) -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => Just(0i32),
        4 => 1i32..=60,
        2 => 61i32..=240,
        1 => 241i32..=86_400,
        1 => prop_oneof![Just(-1i32), Just(86_401)],
    ]
    .prop_map(move |v| if valid { v.clamp(0, 86_400) } else { v })
}

/// A topic's routing settings; out-of-range numbers only when `valid` is false.
pub fn routing_cfg(valid: bool) -> impl Strategy<Value = RoutingCfg> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            8 => 1i32..=4,
            1 => Just(1000i32),
            1 => prop_oneof![Just(0i32), Just(-3), Just(1001)],
        ]
        .prop_map(move |v| if valid { v.clamp(1, 1000) } else { v }),
        timeout(valid),
        timeout(valid),
    )
        .prop_map(
            |(auto, longest_idle, default_capacity, answer_timeout, transfer_timeout)| RoutingCfg {
                auto,
                longest_idle,
                default_capacity,
                answer_timeout,
                transfer_timeout,
            },
        )
}

/// MaxChats: mostly small, sometimes null or out of range.
fn max_chats() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        2 => Just(None),
        6 => (1i32..=4).prop_map(Some),
        1 => prop_oneof![Just(0i32), Just(-1), Just(1001)].prop_map(Some),
    ]
}

/// One random step.
pub fn op() -> impl Strategy<Value = Op> {
    let s = any::<u8>;
    prop_oneof![
        10 => (prop_oneof![12 => 0u8..TOPICS as u8, 1 => Just(TOPICS as u8)], caller(), customer())
            .prop_map(|(topic, caller, fields)| Op::Create { topic, caller, fields }),
        3 => (s(), caller(), customer()).prop_map(|(s, caller, fields)| Op::Submit { s, caller, fields }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::FaqAnswered { s, caller }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::FaqNotHelped { s, caller }),
        2 => (s(), caller(), 0u8..10).prop_map(|(s, caller, l)| Op::Offline { s, caller, too_long: l == 0 }),
        5 => (s(), caller()).prop_map(|(s, caller)| Op::PickUp { s, caller }),
        5 => caller().prop_map(|caller| Op::PickUpFirst { caller }),
        10 => (s(), caller(), 0u8..6, 0u8..15)
            .prop_map(|(s, caller, special, l)| Op::Message { s, caller, special, too_long: l == 0 }),
        3 => (s(), caller()).prop_map(|(s, caller)| Op::Reset { s, caller }),
        6 => (s(), caller(), 0u8..=AGENTS).prop_map(|(s, caller, to)| Op::Transfer { s, caller, to }),
        5 => (s(), caller()).prop_map(|(s, caller)| Op::Accept { s, caller }),
        1 => (s(), caller()).prop_map(|(s, caller)| Op::Reject { s, caller }),
        4 => (s(), caller()).prop_map(|(s, caller)| Op::Close { s, caller }),
        3 => (s(), caller()).prop_map(|(s, caller)| Op::Reopen { s, caller }),
        2 => (s(), caller(), -1i32..=6).prop_map(|(s, caller, rating)| Op::Finish { s, caller, rating }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::Delete { s, caller }),
        2 => (s(), caller(), 0u8..6, 0u8..10)
            .prop_map(|(s, caller, st, al)| Op::Save { s, caller, stale: st == 0, alias_too_long: al == 0 }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::Get { s, caller }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::Position { s, caller }),
        2 => (s(), caller()).prop_map(|(s, caller)| Op::Fetch { s, caller }),
        2 => (0u8..=TOPICS as u8, 1u8..=AGENTS, 0u8..16, caller())
            .prop_map(|(topic, user, rights, caller)| Op::Member { topic, user, rights, caller }),
        4 => (1u8..=AGENTS, any::<bool>()).prop_map(|(user, present)| Op::Presence { user, present }),
        8 => clock().prop_map(|secs| Op::Clock { secs }),
        3 => Just(Op::IdleSweep),
        3 => Just(Op::AlertSweep),
        1 => caller().prop_map(|caller| Op::Purge { caller }),
        3 => (prop_oneof![8 => 0u8..TOPICS as u8, 1 => Just(TOPICS as u8)], caller(), routing_cfg(false))
            .prop_map(|(topic, caller, routing)| Op::SaveRouting { topic, caller, routing }),
        1 => (0u8..=TOPICS as u8, caller()).prop_map(|(topic, caller)| Op::GetRouting { topic, caller }),
        2 => (1u8..=AGENTS + 1, caller(), max_chats())
            .prop_map(|(user, caller, max)| Op::SaveCapacity { user, caller, max }),
        1 => (1u8..=AGENTS + 1, caller()).prop_map(|(user, caller)| Op::GetCapacity { user, caller }),
        5 => caller().prop_map(|caller| Op::RoutingSweep { caller }),
        3 => (s(), caller()).prop_map(|(s, caller)| Op::Explain { s, caller }),
    ]
}

/// The settings of one topic.
pub fn topic_cfg() -> impl Strategy<Value = TopicCfg> {
    (
        (
            0u8..5,
            0u8..5,
            0u8..4,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            any::<bool>(),
            [0i32..4, 0i32..6, 0i32..4, 0i32..6],
            any::<bool>(),
            0i32..4,
            0i32..4,
            any::<bool>(),
            0u8..4,
        ),
    )
        .prop_map(
            |((pre, faq, bot, consent, rn, re), (welcome, warn, qo, om, ol, rating, hours))| {
                TopicCfg {
                    pre_form: pre == 0,
                    auto_faq: faq == 0,
                    bot: bot == 0,
                    consent: consent && rn,
                    req_name: rn,
                    req_email: re && rn,
                    welcome,
                    warn,
                    queue_offline: qo,
                    offline_minutes: om,
                    offline_length: ol,
                    rating,
                    hours: hours == 0,
                }
            },
        )
}

/// A whole case: topics, initial memberships (topic × agent rights bits),
/// presences, routing settings saved at the start (per topic; None: never
/// saved), capacities (per agent; None: never saved), whether the change
/// feed is on (its routing events are checked), and the steps.
#[derive(Debug, Clone)]
pub struct Case {
    pub topics: Vec<TopicCfg>,
    pub members: Vec<u8>,
    pub present: Vec<bool>,
    pub routing: Vec<Option<RoutingCfg>>,
    pub capacities: Vec<Option<i32>>,
    pub feed: bool,
    pub ops: Vec<Op>,
}

/// A case of up to `max_steps` steps.
pub fn case(max_steps: usize) -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(topic_cfg(), TOPICS),
        proptest::collection::vec(
            prop_oneof![3 => Just(2u8), 2 => 0u8..16],
            TOPICS * AGENTS as usize,
        ),
        proptest::collection::vec(
            prop_oneof![3 => Just(true), 1 => Just(false)],
            AGENTS as usize,
        ),
        (
            any::<bool>(),
            routing_cfg(true),
            proptest::collection::vec(
                prop_oneof![1 => Just(None), 1 => routing_cfg(true).prop_map(Some)],
                TOPICS,
            ),
            proptest::collection::vec(
                prop_oneof![2 => Just(None), 1 => (1i32..=4).prop_map(Some)],
                AGENTS as usize,
            ),
            prop_oneof![3 => Just(false), 1 => Just(true)],
        ),
        proptest::collection::vec(op(), 1..=max_steps),
    )
        .prop_map(
            |(topics, members, present, (auto, first, mut routing, capacities, feed), ops)| {
                // Half the cases start with topic 0 routed.
                if auto {
                    routing[0] = Some(RoutingCfg {
                        auto: true,
                        ..first
                    });
                }
                Case {
                    topics,
                    members,
                    present,
                    routing,
                    capacities,
                    feed,
                    ops,
                }
            },
        )
}
