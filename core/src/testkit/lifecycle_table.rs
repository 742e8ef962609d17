//! The lifecycle table × session visibility, as data written again from the
//! rules (not from `crate::status`): every operation × caller role × state
//! gives the outcome kind the rules name, and every error leaves the store as
//! it was.

use super::lifecycle::{Kind, kind, put, rec};
use super::{Fixture, dump};
use crate::storage::Storage;
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatSessionEntity};
use crate::{Caller, ChatSessionStatus, SessionId, TopicId, UserId};
use ChatSessionStatus::*;

const MANAGER: i32 = 1;
const THE_USER: i32 = 2;
const TRANSFER_TO: i32 = 3;
const RESPONDER: i32 = 4;
const LISTENER: i32 = 5;
const NOTIFY: i32 = 6;
const STRANGER: i32 = 7;
/// The target of transfers in the table (user 10, the staffed topic's responder).
const TARGET: i32 = 10;

/// The callers of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    System,
    Manager,
    TheUser,
    TransferTo,
    Responder,
    Listener,
    NotifyOnly,
    Customer,
    OtherCustomer,
    Anonymous,
    Stranger,
}

const CALLERS: [Who; 11] = [
    Who::System,
    Who::Manager,
    Who::TheUser,
    Who::TransferTo,
    Who::Responder,
    Who::Listener,
    Who::NotifyOnly,
    Who::Customer,
    Who::OtherCustomer,
    Who::Anonymous,
    Who::Stranger,
];

impl Who {
    fn is_agent(self) -> bool {
        matches!(
            self,
            Who::Manager
                | Who::TheUser
                | Who::TransferTo
                | Who::Responder
                | Who::Listener
                | Who::NotifyOnly
                | Who::Stranger
        )
    }
    /// Members with CanRespond (users 2, 3 and 4 all have it).
    fn can_respond(self) -> bool {
        matches!(self, Who::TheUser | Who::TransferTo | Who::Responder)
    }
}

/// The "who" column's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    Customer,
    Manager,
    TheUser,
    TheTransferTo,
    Responder,
}

/// One state of a session to run the operations from.
#[derive(Debug, Clone, Copy)]
struct State {
    status: ChatSessionStatus,
    bot: bool,
    user: bool,
    transfer: bool,
}

const fn st(status: ChatSessionStatus, bot: bool, user: bool, transfer: bool) -> State {
    State {
        status,
        bot,
        user,
        transfer,
    }
}

const STATES: [State; 16] = [
    st(PreChatForm, false, false, false),
    st(Faq, false, false, false),
    st(OfflineForm, false, false, false),
    st(InQueue, false, false, false),
    st(InQueue, true, false, false),
    st(CustomerLast, false, true, false),
    st(UserLast, false, true, false),
    st(CustomerLast, false, true, true),
    st(UserLast, false, true, true),
    st(UserLast, true, false, false),
    st(CustomerLast, true, false, false),
    st(Closed, false, true, false),
    st(ClosedFromQueue, false, false, false),
    st(RequestPosted, false, false, false),
    st(Finished, false, true, false),
    st(Deleted, false, true, false),
];

const OPEN: &[ChatSessionStatus] = &[
    PreChatForm,
    Faq,
    OfflineForm,
    InQueue,
    CustomerLast,
    UserLast,
];
const ACTIVE: &[ChatSessionStatus] = &[CustomerLast, UserLast];

impl State {
    fn is_open(self) -> bool {
        OPEN.contains(&self.status)
    }
    fn is_active(self) -> bool {
        ACTIVE.contains(&self.status)
    }
    fn in_human_queue(self) -> bool {
        self.status == InQueue && !self.bot
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    SubmitPreChatForm,
    FaqAnswered,
    FaqNotHelped,
    PostOfflineRequest,
    PickUp,
    AddMessage,
    Reset,
    Transfer,
    Accept,
    Reject,
    Close,
    Reopen,
    Finish,
    Delete,
}

const OPS: [Op; 14] = [
    Op::SubmitPreChatForm,
    Op::FaqAnswered,
    Op::FaqNotHelped,
    Op::PostOfflineRequest,
    Op::PickUp,
    Op::AddMessage,
    Op::Reset,
    Op::Transfer,
    Op::Accept,
    Op::Reject,
    Op::Close,
    Op::Reopen,
    Op::Finish,
    Op::Delete,
];

const CUSTOMER_STEP: &[Role] = &[Role::Customer, Role::System];

/// The row of the lifecycle table that applies to `who` calling `op`: (who column, from).
fn row(op: Op, who: Who) -> (&'static [Role], &'static [ChatSessionStatus]) {
    match op {
        Op::SubmitPreChatForm => (CUSTOMER_STEP, &[PreChatForm]),
        Op::FaqAnswered | Op::FaqNotHelped => (CUSTOMER_STEP, &[Faq]),
        // InQueue only when the queue offline form is available: the table's
        // topic does not offer it, so InQueue fails as a state condition.
        Op::PostOfflineRequest => (CUSTOMER_STEP, &[OfflineForm]),
        Op::PickUp => (&[Role::Responder], &[InQueue]),
        Op::AddMessage => match who {
            Who::System => (&[Role::System], &[InQueue, CustomerLast, UserLast]),
            w if w.is_agent() => (&[Role::TheUser], ACTIVE),
            _ => (&[Role::Customer], &[InQueue, CustomerLast, UserLast]),
        },
        Op::Reset => (&[Role::System, Role::TheUser, Role::Manager], OPEN),
        Op::Transfer => (&[Role::TheUser, Role::Manager], ACTIVE),
        Op::Accept | Op::Reject => (&[Role::TheTransferTo], ACTIVE),
        Op::Close => {
            if who == Who::Customer {
                (&[Role::Customer], OPEN)
            } else {
                (&[Role::TheUser, Role::Manager, Role::System], ACTIVE)
            }
        }
        Op::Reopen | Op::Finish => (CUSTOMER_STEP, &[Closed]),
        Op::Delete => (
            &[Role::Manager, Role::System],
            &[
                PreChatForm,
                Faq,
                OfflineForm,
                InQueue,
                CustomerLast,
                UserLast,
                Finished,
                Closed,
                RequestPosted,
                ClosedFromQueue,
            ],
        ),
    }
}

/// May `who` see a session in state `s` at all?
fn visible(who: Who, s: State) -> bool {
    let deleted = s.status == Deleted;
    match who {
        Who::System | Who::Manager => true,
        _ if deleted => false,
        // Users 2–5 are members with CanRespond or CanListen: Select on every
        // open and every ended session of the topic.
        Who::TheUser | Who::TransferTo | Who::Responder | Who::Listener => true,
        Who::NotifyOnly => s.is_open() && s.in_human_queue(),
        Who::Customer => true,
        Who::OtherCustomer | Who::Anonymous | Who::Stranger => false,
    }
}

fn role_passes(role: Role, who: Who, s: State) -> bool {
    match role {
        Role::System => who == Who::System,
        Role::Customer => who == Who::Customer,
        Role::Manager => who == Who::Manager,
        Role::Responder => who.can_respond(),
        Role::TheUser => who == Who::TheUser && s.user,
        Role::TheTransferTo => who == Who::TransferTo && s.transfer,
    }
}

/// The outcome the rules give, and the status after an Ok.
fn expected(op: Op, who: Who, s: State) -> (Kind, Option<ChatSessionStatus>) {
    if !visible(who, s) {
        return (Kind::NotFound, None);
    }
    let (roles, from) = row(op, who);
    if !roles.iter().any(|r| role_passes(*r, who, s)) {
        // "The User" / "the TransferTo user" without one: a state condition.
        let no_user = roles.contains(&Role::TheUser) && !s.user;
        let no_target = roles.contains(&Role::TheTransferTo) && !s.transfer;
        if who.is_agent() && (no_user || no_target) {
            return (Kind::Invalid, None);
        }
        return (Kind::Forbidden, None);
    }
    if op == Op::PickUp {
        return if s.in_human_queue() {
            (Kind::Ok, Some(UserLast))
        } else {
            (Kind::Nothing, None)
        };
    }
    if !from.contains(&s.status) {
        return (Kind::Invalid, None);
    }
    // State conditions beyond the status.
    let condition = match op {
        Op::AddMessage if who == Who::System => s.bot,
        Op::Transfer => s.user,
        Op::Accept | Op::Reject => s.transfer && s.user && s.is_active(),
        _ => true,
    };
    if !condition {
        return (Kind::Invalid, None);
    }
    let to = match op {
        Op::SubmitPreChatForm | Op::FaqNotHelped | Op::Reopen => InQueue,
        Op::FaqAnswered => Closed,
        Op::PostOfflineRequest => RequestPosted,
        Op::AddMessage => match who {
            Who::Customer if s.in_human_queue() => InQueue,
            Who::Customer => CustomerLast,
            _ => UserLast,
        },
        Op::Reset => InQueue,
        Op::Transfer | Op::Accept | Op::Reject => s.status,
        Op::Close if who == Who::Customer && s.status == InQueue => ClosedFromQueue,
        Op::Close => Closed,
        Op::Finish => Finished,
        Op::Delete => Deleted,
        Op::PickUp => UserLast,
    };
    (Kind::Ok, Some(to))
}

struct Table<S: Storage> {
    fx: Fixture<S>,
    topic: TopicId,
    other_key: String,
}

impl<S: Storage> Table<S> {
    /// A session in state `s`, created by a customer and then put in `s`.
    fn session(&self, s: State) -> (SessionId, String) {
        let (id, key) = self.fx.customer_session(self.topic, "cust");
        let now = self.fx.desk.now();
        let mut r = rec(&self.fx, id);
        r.status = s.status;
        r.chatbot_is_active = s.bot;
        if s.user {
            r.user = Some(UserId(THE_USER));
            r.when_started = Some(now);
        }
        if s.user && s.is_active() {
            r.rank = 1;
        }
        if s.transfer {
            r.transfer_to = Some(UserId(TRANSFER_TO));
        }
        if s.status == CustomerLast {
            r.customer_last_since = Some(now);
        }
        if !s.is_open() {
            r.when_ended = Some(now);
        }
        if s.status == Deleted {
            r.deleted_at = Some(now);
        }
        if s.bot {
            r.initial_queue_pos = 0;
        }
        put(&self.fx, &r);
        (id, key)
    }

    fn ctx(&self, who: Who, key: &str) -> Caller {
        match who {
            Who::System => Caller::system(),
            Who::Manager => Caller::agent(MANAGER),
            Who::TheUser => Caller::agent(THE_USER),
            Who::TransferTo => Caller::agent(TRANSFER_TO),
            Who::Responder => Caller::agent(RESPONDER),
            Who::Listener => Caller::agent(LISTENER),
            Who::NotifyOnly => Caller::agent(NOTIFY),
            Who::Stranger => Caller::agent(STRANGER),
            Who::Customer => Caller::customer(key),
            Who::OtherCustomer => Caller::customer(self.other_key.clone()),
            Who::Anonymous => Caller::anonymous(),
        }
    }

    /// Runs `op` as `who`; the outcome kind and the status the call returned.
    fn run(&self, op: Op, who: Who, id: SessionId, key: &str) -> (Kind, Option<ChatSessionStatus>) {
        let d = &self.fx.desk;
        let ctx = self.ctx(who, key);
        let status = |r: crate::Result<ChatSessionEntity>| {
            let k = kind(&r);
            (k, r.ok().map(|e| e.status))
        };
        match op {
            Op::SubmitPreChatForm => {
                let form = ChatSessionEntity {
                    customer_alias: "cust".into(),
                    customer_name: "Ann".into(),
                    ..ChatSessionEntity::default()
                };
                status(d.submit_pre_chat_form(&ctx, id, &form))
            }
            Op::FaqAnswered => status(d.faq_answered(&ctx, id)),
            Op::FaqNotHelped => status(d.faq_not_helped(&ctx, id)),
            Op::PostOfflineRequest => status(d.post_offline_request(&ctx, id, "call me")),
            Op::PickUp => match d.pick_up_chat_session(&ctx, id) {
                Ok(Some(e)) => (Kind::Ok, Some(e.status)),
                Ok(None) => (Kind::Nothing, None),
                Err(e) => (kind::<()>(&Err(e)), None),
            },
            Op::AddMessage => {
                let m = ChatMessage {
                    message: "hello".into(),
                    special_type: if who == Who::System {
                        ChatMessageSpecialType::BotMessage
                    } else {
                        ChatMessageSpecialType::None
                    },
                    ..ChatMessage::default()
                };
                match d.add_chat_message(&ctx, id, &m) {
                    Ok(_) => (Kind::Ok, Some(rec(&self.fx, id).status)),
                    Err(e) => (kind::<()>(&Err(e)), None),
                }
            }
            Op::Reset => status(d.reset_chat_session(&ctx, id)),
            Op::Transfer => status(d.transfer_chat_session(&ctx, id, UserId(TARGET))),
            Op::Accept => status(d.accept_chat_session_transfer(&ctx, id)),
            Op::Reject => status(d.reject_chat_session_transfer(&ctx, id)),
            Op::Close => status(d.close_chat_session(&ctx, id)),
            Op::Reopen => status(d.reopen_chat_session(&ctx, id)),
            Op::Finish => status(d.finish_chat_session(&ctx, id, 0)),
            Op::Delete => match d.delete_chat_session_entity(&ctx, id) {
                Ok(()) => (Kind::Ok, Some(rec(&self.fx, id).status)),
                Err(e) => (kind::<()>(&Err(e)), None),
            },
        }
    }
}

/// Every operation × caller × state against the lifecycle and rights tables.
pub fn lifecycle_table_outcomes<S: Storage>(store: S) {
    let fx = Fixture::new(store);
    let topic = fx.staffed_topic("table");
    fx.member(topic, MANAGER, (false, false, true, false));
    fx.member(topic, THE_USER, (false, true, false, false));
    fx.member(topic, TRANSFER_TO, (false, true, false, false));
    fx.member(topic, RESPONDER, (false, true, false, false));
    fx.member(topic, LISTENER, (true, false, false, false));
    fx.member(topic, NOTIFY, (false, false, false, true));
    for u in [THE_USER, TRANSFER_TO, RESPONDER] {
        fx.present(u, true);
    }
    let (_, other_key) = fx.customer_session(topic, "other");
    let t = Table {
        fx,
        topic,
        other_key,
    };
    let mut failures = Vec::new();
    let mut counts = std::collections::HashMap::new();
    for state in STATES {
        for op in OPS {
            let (id, key) = t.session(state);
            let before_all = dump(t.fx.desk.storage());
            // Errors (and "nothing") first, all on one session.
            let mut oks = Vec::new();
            for who in CALLERS {
                let (want, want_to) = expected(op, who, state);
                if want == Kind::Ok {
                    oks.push((who, want_to));
                    continue;
                }
                let session_before = super::lifecycle::session_dump(&t.fx, id);
                let (got, _) = t.run(op, who, id, &key);
                *counts.entry(want).or_insert(0) += 1;
                if got != want {
                    failures.push(format!(
                        "{op:?} by {who:?} from {state:?}: want {want:?}, got {got:?}"
                    ));
                }
                if super::lifecycle::session_dump(&t.fx, id) != session_before {
                    failures.push(format!(
                        "{op:?} by {who:?} from {state:?}: {got:?} changed the session"
                    ));
                }
            }
            if dump(t.fx.desk.storage()) != before_all {
                failures.push(format!("{op:?} from {state:?}: refusals changed the store"));
            }
            // Each success on a fresh session in the same state.
            for (who, want_to) in oks {
                let (id, key) = t.session(state);
                let (got, to) = t.run(op, who, id, &key);
                *counts.entry(Kind::Ok).or_insert(0) += 1;
                if got != Kind::Ok || to != want_to {
                    failures.push(format!(
                        "{op:?} by {who:?} from {state:?}: want Ok → {want_to:?}, got {got:?} → {to:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the table's cases differ from the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The table exercised every kind.
    for k in [
        Kind::Ok,
        Kind::Nothing,
        Kind::NotFound,
        Kind::Forbidden,
        Kind::Invalid,
    ] {
        assert!(counts.get(&k).copied().unwrap_or(0) > 0, "no case of {k:?}");
    }
}
