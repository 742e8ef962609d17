//! Stored records: chatdesk's own types, with UTC times and ids (not the
//! carriers). Backends store and index them; they never decide a business rule,
//! so the facts they index by (`human_queue_seq`, `active_user`, `is_open`) are
//! methods here, in the domain.

use crate::clock::Timestamp;
use crate::ids::{MessageId, SessionId, TopicId, UserId};
use crate::wire::{
    ChatMessageSpecialType, ChatMessageType, ChatSessionStatus, ChatTopicEntity, RoutingMode,
    RoutingStrategy,
};

/// A chat topic: the host's settings as saved, plus the statistics pick-ups keep.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRecord {
    /// The topic's id.
    pub id: TopicId,
    /// The settings as saved (its id, LastAccept, SecondsPrAccept, TableRight and
    /// FieldProperties are not read from here: the fields below and the rights
    /// code give them).
    pub settings: ChatTopicEntity,
    /// When a session of this topic was last picked up.
    pub last_accept: Option<Timestamp>,
    /// The moving average of the queue wait, in seconds (`SecondsPrAccept`).
    pub seconds_pr_accept: i32,
    /// How the topic's waiting sessions are assigned (Manual by default).
    pub routing: TopicRouting,
}

/// A topic's routing settings as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicRouting {
    /// Manual or Auto.
    pub mode: RoutingMode,
    /// How an agent is chosen.
    pub strategy: RoutingStrategy,
    /// An agent's capacity in this topic when they have no MaxChats of their own (1–1000).
    pub default_capacity: i32,
    /// A routed session whose agent has not answered after this many seconds
    /// goes back to the queue (0 = off).
    pub answer_timeout_secs: i32,
    /// A pending transfer not answered after this many seconds is rejected (0 = off).
    pub transfer_timeout_secs: i32,
}

impl Default for TopicRouting {
    fn default() -> Self {
        TopicRouting {
            mode: RoutingMode::Manual,
            strategy: RoutingStrategy::LeastBusy,
            default_capacity: 3,
            answer_timeout_secs: 0,
            transfer_timeout_secs: 0,
        }
    }
}

/// What routing keeps about one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentRecord {
    /// The agent.
    pub user: UserId,
    /// Their own capacity for every topic (1–1000); `None` uses each topic's
    /// default capacity.
    pub max_chats: Option<i32>,
    /// When they last got a session by a pick-up (by hand or routed) or an
    /// accepted transfer; `None`: never.
    pub last_assigned: Option<Timestamp>,
}

/// A user's membership of a topic (`ChatTopicAgent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRecord {
    /// The topic.
    pub topic: TopicId,
    /// The member.
    pub user: UserId,
    /// May read the topic's sessions.
    pub can_listen: bool,
    /// May pick up and answer sessions.
    pub can_respond: bool,
    /// May manage the topic, its memberships and its sessions.
    pub can_manage: bool,
    /// Is told about waiting customers.
    pub can_notify: bool,
}

impl MemberRecord {
    /// Whether all four rights are off (such a membership does not exist).
    pub fn is_empty(&self) -> bool {
        !(self.can_listen || self.can_respond || self.can_manage || self.can_notify)
    }
}

/// A user's saved presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    /// The user.
    pub user: UserId,
    /// Whether the user is present (accepting chats).
    pub present: bool,
    /// The name shown to customers when the directory has none.
    pub display_name: String,
}

/// The customer fields of a session, as the customer gave them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerInfo {
    /// `CustomerAlias` (≤ 64).
    pub alias: String,
    /// `CustomerHost` (≤ 255).
    pub host: String,
    /// `CustomerName` (≤ 255).
    pub name: String,
    /// `CustomerEmail` (≤ 255).
    pub email: String,
    /// `CustomerPhone` (≤ 32).
    pub phone: String,
    /// `CustomerConsented`.
    pub consented: bool,
    /// `CustomerCompanyName` (≤ 255).
    pub company: String,
}

/// Ids of the CRM records a session links to (summaries are built from them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrmLinks {
    /// `Person`.
    pub person: Option<i32>,
    /// `Contact`.
    pub contact: Option<i32>,
    /// `Project`.
    pub project: Option<i32>,
    /// `Sale`.
    pub sale: Option<i32>,
    /// `Ticket`.
    pub ticket: Option<i32>,
}

/// A chat session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// `ChatSessionId`.
    pub id: SessionId,
    /// `TopicId`.
    pub topic: TopicId,
    /// `User`: the agent who has (or last had) the session.
    pub user: Option<UserId>,
    /// Person, Contact, Project, Sale, Ticket.
    pub links: CrmLinks,
    /// The customer fields.
    pub customer: CustomerInfo,
    /// `Status`.
    pub status: ChatSessionStatus,
    /// `FirstMessage` (≤ 1024, cut on a char boundary).
    pub first_message: String,
    /// `LastMessage` (≤ 1024, cut on a char boundary).
    pub last_message: String,
    /// `WhenRequested`.
    pub when_requested: Timestamp,
    /// `WhenStarted` (pick-up).
    pub when_started: Option<Timestamp>,
    /// `WhenEnded`.
    pub when_ended: Option<Timestamp>,
    /// `WhenIdle`: the last ToUser / ToCustomer message.
    pub when_idle: Option<Timestamp>,
    /// `WhenFetched`: the customer's last fetch or operation.
    pub when_fetched: Option<Timestamp>,
    /// SHA-256 of the SessionKey; the key itself is never stored.
    pub key_hash: [u8; 32],
    /// `InitialQueuePos`: frozen once set.
    pub initial_queue_pos: i32,
    /// `AlertLevel`.
    pub alert_level: i32,
    /// `Rank`.
    pub rank: i32,
    /// `TransferTo`: the pending transfer's target.
    pub transfer_to: Option<UserId>,
    /// `ChatbotIsActive`: the bot owns the session.
    pub chatbot_is_active: bool,
    /// `Rating` (0 none, 1–5).
    pub rating: i32,
    /// Queue sequence of the last queue entry (queue order); kept after leaving.
    pub queue_seq: Option<u64>,
    /// When the session last entered the queue.
    pub queue_entered: Option<Timestamp>,
    /// When the session last became CustomerLast (oldest unanswered message).
    pub customer_last_since: Option<Timestamp>,
    /// When the session was soft-deleted.
    pub deleted_at: Option<Timestamp>,
    /// Routing's state of the session: whether it is assigned by routing,
    /// the agents excluded from it, when its transfer was requested.
    pub routing: SessionRouting,
    /// Facts kept for the desk's statistics.
    pub stats: SessionStats,
}

/// Routing's state of one session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionRouting {
    /// When routing assigned the session to its User; `None` when it is not
    /// assigned by routing (never was, or since requeued, reset, taken over
    /// by an accepted transfer, or ended).
    pub routed_at: Option<Timestamp>,
    /// Whether the User has added a message since the routed assignment.
    pub answered: bool,
    /// Agents routing no longer offers the session to (they let it time
    /// out), by user id; emptied when the session ends.
    pub excluded: Vec<UserId>,
    /// When the pending transfer was (last) requested.
    pub transfer_requested_at: Option<Timestamp>,
}

/// Facts about one session that the desk's statistics read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// The highest alert level the session reached.
    pub max_alert_level: i32,
    /// How many times routing took it back from an agent who did not answer.
    pub answer_timeouts: i32,
    /// When an agent first answered (their first message), if any.
    pub first_answer_at: Option<Timestamp>,
}

impl SessionRecord {
    /// Open states: PreChatForm, Faq, OfflineForm, InQueue, CustomerLast, UserLast.
    pub fn is_open(&self) -> bool {
        status_is_open(self.status)
    }

    /// Active states (a chat is going on): CustomerLast, UserLast.
    pub fn is_active(&self) -> bool {
        status_is_active(self.status)
    }

    /// In the topic's human queue: InQueue and not owned by the bot.
    pub fn in_human_queue(&self) -> bool {
        self.status == ChatSessionStatus::InQueue && !self.chatbot_is_active
    }

    /// The queue sequence this session holds in its topic's human queue, if it is
    /// in it: the key backends index the queue by.
    pub fn human_queue_seq(&self) -> Option<u64> {
        if self.in_human_queue() {
            self.queue_seq
        } else {
            None
        }
    }

    /// The user whose active sessions this one counts among (for ranks).
    pub fn active_user(&self) -> Option<UserId> {
        if self.is_active() { self.user } else { None }
    }

    /// The user a pending transfer is addressed to: the key backends index
    /// pending transfers by (a transfer is pending only while the session is
    /// active with a User).
    pub fn pending_transfer_to(&self) -> Option<UserId> {
        if self.is_active() && self.user.is_some() {
            self.transfer_to
        } else {
            None
        }
    }
}

/// Whether `s` is an open state.
pub fn status_is_open(s: ChatSessionStatus) -> bool {
    use ChatSessionStatus::*;
    matches!(
        s,
        PreChatForm | Faq | OfflineForm | InQueue | CustomerLast | UserLast
    )
}

/// Whether `s` is an active state.
pub fn status_is_active(s: ChatSessionStatus) -> bool {
    matches!(
        s,
        ChatSessionStatus::CustomerLast | ChatSessionStatus::UserLast
    )
}

/// A chat message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// `ChatMessageId`.
    pub id: MessageId,
    /// `ChatSessionId`.
    pub session: SessionId,
    /// `Type`.
    pub kind: ChatMessageType,
    /// `Message` (≤ 4000).
    pub text: String,
    /// `Author`.
    pub author: String,
    /// `ReadByCustomer`: a customer fetch has returned it.
    pub read_by_customer: bool,
    /// `SpecialType`.
    pub special: ChatMessageSpecialType,
    /// `SpecialParam` (≤ 255).
    pub special_param: String,
    /// `WhenPosted`.
    pub when_posted: Timestamp,
}

/// Who caused a change-feed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventActor {
    /// The host itself (sweeps, purge, System calls).
    System,
    /// An agent.
    Agent(UserId),
    /// The session's customer (or an anonymous customer creating it).
    Customer,
}

impl EventActor {
    /// How backends store it: a code (0 System, 1 Agent, 2 Customer) and the
    /// agent's id.
    pub fn to_parts(self) -> (i32, Option<i32>) {
        match self {
            EventActor::System => (0, None),
            EventActor::Agent(u) => (1, Some(u.0)),
            EventActor::Customer => (2, None),
        }
    }

    /// The inverse of [`EventActor::to_parts`]; `None` for anything else.
    pub fn from_parts(code: i32, user: Option<i32>) -> Option<Self> {
        match (code, user) {
            (0, None) => Some(EventActor::System),
            (1, Some(u)) => Some(EventActor::Agent(UserId(u))),
            (2, None) => Some(EventActor::Customer),
            _ => None,
        }
    }
}

/// One change-feed event as stored. Backends store and return it; only the
/// domain interprets `kind` and `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The feed sequence: from [`crate::backend::IdKind::Event`], so it grows in commit
    /// order with no gaps.
    pub seq: i64,
    /// A UUID v4 (see [`format_uuid`]).
    pub id: [u8; 16],
    /// When the change happened.
    pub at: Timestamp,
    /// The session it is about.
    pub session: SessionId,
    /// The session's topic.
    pub topic: TopicId,
    /// Who caused it.
    pub actor: EventActor,
    /// The event's kind, e.g. `session.created` (see `crate::ChatEventKind`).
    pub kind: String,
    /// A small JSON object the domain encodes; backends never read it.
    pub data: String,
}

/// A UUID as `8-4-4-4-12` lowercase hex digits.
pub fn format_uuid(id: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Parses [`format_uuid`]'s form (either case); `None` for anything else.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut digits = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    if [8, 13, 18, 23].iter().any(|&i| bytes.get(i) != Some(&b'-')) {
        return None;
    }
    for slot in &mut out {
        let hi = char::from(*digits.next()?.1).to_digit(16)?;
        let lo = char::from(*digits.next()?.1).to_digit(16)?;
        *slot = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_codes_round_trip_and_stay_put() {
        for m in [RoutingMode::Manual, RoutingMode::Auto] {
            assert_eq!(RoutingMode::from_code(m.code()), Some(m));
        }
        for s in [RoutingStrategy::LeastBusy, RoutingStrategy::LongestIdle] {
            assert_eq!(RoutingStrategy::from_code(s.code()), Some(s));
        }
        // Stored codes: changing one needs a store migration.
        assert_eq!(
            (
                RoutingMode::Auto.code(),
                RoutingStrategy::LongestIdle.code()
            ),
            (1, 1)
        );
        assert_eq!(
            (RoutingMode::from_code(2), RoutingStrategy::from_code(-1)),
            (None, None)
        );
    }
}
