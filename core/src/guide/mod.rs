//! The guide: what chatdesk promises, in one place.
//!
//! These pages are the contract a host program can rely on. The API docs
//! say what each call takes and returns; the guide says what the rules
//! behind the calls are: which state follows which, who may do what, what
//! each error means and when to retry, what the stores guarantee.
//!
//! | page | read it for |
//! |---|---|
//! | [`lifecycle`] | the statuses, every operation (who, from, to, side effects), how a new session starts, transfers, the order of the error checks |
//! | [`rights`] | who sees and may change a session, a topic, a membership, a presence; TableRight and FieldProperties; saving a session carrier |
//! | [`queue`] | queue order and positions, the wait average and the queue text, the queue's offline form, agents' ranks, alert levels |
//! | [`wire`] | the JSON of the carriers: field order, enums and flag masks, date-times, summaries, field lengths |
//! | [`storage`] | what every backend guarantees, and memory vs SQLite vs sled |
//! | [`errors`] | every [`Error`](crate::Error) variant: what it means and what to do, which ones to retry |
//! | [`time_and_sweeps`] | the clock, time zones, opening hours, the sweeps the host runs, every [`Config`](crate::Config) field |
//! | [`routing`] | Auto topics: capacity, strategies, timeouts, the invariant, reading an explanation |
//! | [`change_feed`] | events written with each change, cursors, waiting, pruning, the webhook form, the message hook |
//! | [`statistics`] | the desk report (what it counts, buckets, rights, cost) and wait estimates (the model, the range) |
//!
//! # Words the pages use
//!
//! | word | meaning |
//! |---|---|
//! | carrier | a SuperOffice-shaped JSON value: [`ChatSessionEntity`](crate::ChatSessionEntity), [`ChatTopicEntity`](crate::ChatTopicEntity), [`ChatMessage`](crate::ChatMessage), [`ChatTopicAgent`](crate::ChatTopicAgent), [`ChatPresence`](crate::ChatPresence) |
//! | caller | who makes a call: a [`Caller`](crate::Caller) of kind [`CallerKind`](crate::CallerKind) (System, an agent, a customer holding a session key, an anonymous customer), with a time zone |
//! | System | the host program itself (and its bots); [`Caller::system()`](crate::Caller::system) |
//! | agent | an associate, known by user id; [`Caller::agent(7)`](crate::Caller::agent). What an agent may do comes from their topic memberships |
//! | member | an agent with a membership of the session's topic, holding some of CanListen, CanRespond, CanManage, CanNotify |
//! | manager | a member with CanManage |
//! | customer | the person chatting, known by their session's key; [`Caller::customer(key)`](crate::Caller::customer). An anonymous customer ([`Caller::anonymous()`](crate::Caller::anonymous)) has no session yet |
//! | the User | the agent who has the session (`User` in the carrier) |
//! | bot-owned | a session with `ChatbotIsActive` true: the host's bot runs it |
//! | human queue | a topic's InQueue sessions that are not bot-owned: the ones agents pick up |
//! | open, active, ended | sets of statuses, see [`lifecycle`] |
//!
//! Every operation is one atomic storage transaction: it happens whole or
//! not at all, and other callers never see half of it. Every call blocks;
//! an async host runs them with `spawn_blocking`.

#[doc = include_str!("lifecycle.md")]
pub mod lifecycle {}

#[doc = include_str!("rights.md")]
pub mod rights {}

#[doc = include_str!("queue.md")]
pub mod queue {}

#[doc = include_str!("wire.md")]
pub mod wire {}

#[doc = include_str!("storage.md")]
pub mod storage {}

#[doc = include_str!("errors.md")]
pub mod errors {}

#[doc = include_str!("time_and_sweeps.md")]
pub mod time_and_sweeps {}

#[doc = include_str!("routing.md")]
pub mod routing {}

#[doc = include_str!("change_feed.md")]
pub mod change_feed {}

#[doc = include_str!("statistics.md")]
pub mod statistics {}
