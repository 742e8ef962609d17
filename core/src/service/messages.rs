//! Messages: add (per caller), fetch, transcript, typing.

use super::build::wire_time;
use super::feed::{Emit, actor_of, record_event};
use super::lifecycle::{
    NewMessage, authorize, authorize_role, check_message_text, customer_author, normalize,
    post_message, touch_customer,
};
use super::scope::Scope;
use super::sessions::visible_session;
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{IdKind, MessageId, SessionId};
use crate::model::{MessageRecord, SessionRecord};
use crate::status::Op;
use crate::storage::{ReadTx, Storage, WriteTx};
use crate::wire::{ChatMessage, ChatMessageSpecialType, ChatMessageType, ChatSessionStatus};
use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// The most messages one fetch returns.
pub const MAX_MESSAGES_PER_FETCH: usize = 500;

/// How [`ChatDesk::get_chat_transcript`] writes the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptFormat {
    /// One line per message: `[time] author: text`.
    Text,
    /// An HTML fragment, everything anyone wrote escaped.
    Html,
}

/// The typing state the service keeps in memory (never stored, no event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Typing {
    /// The customer is typing.
    pub customer: bool,
    /// The agent is typing.
    pub agent: bool,
}

pub(crate) fn message_carrier(caller: &Caller, m: &MessageRecord) -> ChatMessage {
    ChatMessage {
        chat_message_id: m.id.0,
        chat_session_id: m.session.0,
        message_type: m.kind,
        message: m.text.clone(),
        author: m.author.clone(),
        read_by_customer: i32::from(m.read_by_customer),
        special_type: m.special,
        special_param: m.special_param.clone(),
        when_posted: wire_time(caller, Some(m.when_posted)),
    }
}

fn check_param(p: &str) -> Result<()> {
    let n = p.chars().count();
    if n > 255 {
        return Err(Error::validation(
            "SpecialParam",
            format!("{n} characters; at most 255"),
        ));
    }
    Ok(())
}

/// Applies a customer message's transition.
fn after_customer_message(s: &mut SessionRecord, now: Timestamp) {
    if s.in_human_queue() {
        return;
    }
    if s.status != ChatSessionStatus::CustomerLast {
        s.status = ChatSessionStatus::CustomerLast;
        s.customer_last_since = Some(now);
    }
}

/// Appends `text` to `out` with HTML's special characters escaped.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// Appends `text` to a plain-text transcript line: every line break in it
/// (`\r\n`, `\n`, `\r`, and the other characters readers treat as one)
/// becomes a newline followed by four spaces, so that only a real message
/// starts a line with `[` — a message can never forge another line.
fn push_continued(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\n    ");
            }
            '\n' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                out.push_str("\n    ");
            }
            _ => out.push(c),
        }
    }
}

/// Appends the `width` lowest decimal digits of `v`, zero-padded.
fn push_digits(out: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (v / 10u32.pow(i) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// Appends a transcript line's time stamp, `YYYY-MM-DD hh:mm:ss` in the
/// date-time's own offset (chrono's `%Y-%m-%d %H:%M:%S`, written digit by
/// digit: a transcript writes one per message).
fn push_stamp(out: &mut String, dt: &DateTime<FixedOffset>) {
    let year = match u32::try_from(dt.year()) {
        Ok(year) if year < 10_000 => year,
        _ => {
            out.push_str(&dt.format("%Y-%m-%d %H:%M:%S").to_string());
            return;
        }
    };
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, dt.month(), 2);
    out.push('-');
    push_digits(out, dt.day(), 2);
    out.push(' ');
    push_digits(out, dt.hour(), 2);
    out.push(':');
    push_digits(out, dt.minute(), 2);
    out.push(':');
    push_digits(out, dt.second(), 2);
}

/// # Messages, transcripts and typing
impl<S: Storage> ChatDesk<S> {
    /// Adds a message. Type and Author come from the caller, never from the
    /// carrier: the session's customer writes ToUser (SpecialType None or
    /// ClickedOption with the label in SpecialParam); the session's User
    /// writes ToCustomer; System writes bot messages (BotMessage, or Options
    /// with a JSON list of labels in SpecialParam) while the bot owns the session.
    /// A customer's message makes the session CustomerLast (it stays InQueue
    /// while waiting), an agent's UserLast. A [`MessageHook`](crate::MessageHook)
    /// sees the message first and may rewrite or refuse it.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatMessage, ChatMessageType, ChatSessionStatus};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let hi = ChatMessage { message: "My order has not arrived".into(), ..Default::default() };
    /// let sent = desk.add_chat_message(&customer, id, &hi)?;
    /// assert_eq!(sent.message_type, ChatMessageType::ToUser);
    /// assert_eq!(sent.author, "Ann");
    ///
    /// let answer = ChatMessage { message: "Let me look".into(), ..Default::default() };
    /// desk.add_chat_message(&Caller::agent(anna), id, &answer)?;
    /// assert_eq!(desk.get_chat_session_entity(&customer, id)?.status, ChatSessionStatus::UserLast);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// - [`NotFound`](crate::Error::NotFound),
    ///   [`Forbidden`](crate::Error::Forbidden) (an agent who is not the
    ///   session's User).
    /// - [`InvalidTransition`](crate::Error::InvalidTransition): the session
    ///   is not in a state that takes messages (e.g. it has ended).
    /// - [`Validation`](crate::Error::Validation): Message over 4000
    ///   characters, SpecialParam over 255, a SpecialType the caller may not
    ///   use.
    /// - [`Rejected`](crate::Error::Rejected): the message hook refused it.
    pub fn add_chat_message(
        &self,
        caller: &Caller,
        id: SessionId,
        message: &ChatMessage,
    ) -> Result<ChatMessage> {
        let _op = super::trace::op("add_chat_message", caller).session(id);
        let now = self.now();
        let directory_name = caller
            .agent_id()
            .and_then(|u| self.directory.associate(u))
            .and_then(|a| a.full_name().map(str::to_string));
        let rec = self.write(Scope::of(caller).session(id).takes(IdKind::Message), |tx| {
            let who = Who::resolve(tx, caller)?;
            let op = match who {
                Who::System => Op::BotMessage,
                Who::Agent(_) => Op::AgentMessage,
                Who::Customer(_) | Who::Anonymous => Op::CustomerMessage,
            };
            let (mut s, rel) = authorize(tx, who, id, op)?;
            let before = s.clone();
            if op == Op::BotMessage && !s.chatbot_is_active {
                return Err(Error::InvalidTransition {
                    op: "add_chat_message",
                    from: s.status,
                    detail: "; the bot does not own the session".into(),
                });
            }
            // Validation in carrier order: Message, SpecialType, SpecialParam.
            check_message_text("Message", &message.message)?;
            let new = match op {
                Op::CustomerMessage => {
                    let special = message.special_type;
                    if !matches!(
                        special,
                        ChatMessageSpecialType::None | ChatMessageSpecialType::ClickedOption
                    ) {
                        return Err(Error::validation(
                            "SpecialType",
                            "a customer sends None or ClickedOption",
                        ));
                    }
                    NewMessage {
                        kind: ChatMessageType::ToUser,
                        special,
                        text: message.message.clone(),
                        author: customer_author(&s),
                        param: if special == ChatMessageSpecialType::ClickedOption {
                            message.special_param.clone()
                        } else {
                            String::new()
                        },
                    }
                }
                Op::AgentMessage => {
                    if message.special_type != ChatMessageSpecialType::None {
                        return Err(Error::validation("SpecialType", "an agent sends None"));
                    }
                    let author = match who {
                        Who::Agent(u) => match directory_name.clone().filter(|n| !n.is_empty()) {
                            Some(n) => n,
                            None => tx.presence(u)?.map(|p| p.display_name).unwrap_or_default(),
                        },
                        _ => String::new(),
                    };
                    NewMessage {
                        kind: ChatMessageType::ToCustomer,
                        special: ChatMessageSpecialType::None,
                        text: message.message.clone(),
                        author,
                        param: String::new(),
                    }
                }
                _ => {
                    let special = match message.special_type {
                        ChatMessageSpecialType::None | ChatMessageSpecialType::BotMessage => {
                            ChatMessageSpecialType::BotMessage
                        }
                        ChatMessageSpecialType::Options => ChatMessageSpecialType::Options,
                        _ => {
                            return Err(Error::validation(
                                "SpecialType",
                                "a bot sends BotMessage or Options",
                            ));
                        }
                    };
                    let t = tx.topic(s.topic)?;
                    NewMessage {
                        kind: ChatMessageType::ToCustomer,
                        special,
                        text: message.message.clone(),
                        author: t
                            .map(|t| t.settings.bot_settings.bot_name)
                            .unwrap_or_default(),
                        param: if special == ChatMessageSpecialType::Options {
                            message.special_param.clone()
                        } else {
                            String::new()
                        },
                    }
                }
            };
            check_param(&message.special_param)?;
            if new.special == ChatMessageSpecialType::Options
                && serde_json::from_str::<Vec<String>>(&new.param).is_err()
            {
                return Err(Error::validation(
                    "SpecialParam",
                    "Options needs a JSON list of labels",
                ));
            }
            let rec = post_message(tx, &self.hook, &mut s, new, now)?;
            match op {
                Op::CustomerMessage => after_customer_message(&mut s, now),
                Op::AgentMessage => {
                    s.status = ChatSessionStatus::UserLast;
                    s.alert_level = 0;
                    // Routing's answer timeout stops at the User's first
                    // word; the statistics keep the first answer's time.
                    s.routing.answered = true;
                    s.stats.first_answer_at.get_or_insert(now);
                }
                _ => s.status = ChatSessionStatus::UserLast,
            }
            touch_customer(&rel, &mut s, now);
            normalize(&mut s, now);
            tx.put_session(&s)?;
            let emit = Emit::message(&rec);
            record_event(tx, emit, now, actor_of(caller), Some(&before), &s)?;
            Ok(rec)
        })?;
        if caller.agent_id().is_some() {
            self.typing.set(id, false, false, now, 0);
        } else if matches!(caller.kind, crate::CallerKind::Customer(_)) {
            self.typing.set(id, true, false, now, 0);
        }
        Ok(message_carrier(caller, &rec))
    }

    /// The messages of a session in order, after message `after` (`None`: from
    /// the first), at most `limit` (≤ 500); page on by passing the last
    /// message's [`ChatMessage::id`]. A fetch by the session's own customer
    /// marks what it returns ReadByCustomer and sets WhenFetched (written only
    /// when the stored value is older than 5 s, so polling is not a write per
    /// poll).
    ///
    /// ```
    /// use chatdesk::{Caller, ChatMessage};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// # for text in ["Hello", "Are you there?"] {
    /// #     desk.add_chat_message(&customer, id, &ChatMessage { message: text.into(), ..Default::default() })?;
    /// # }
    /// let anna = Caller::agent(anna);
    /// let mut seen = None; // the last message shown so far
    /// let new = desk.get_chat_messages(&anna, id, seen, 100)?;
    /// assert_eq!(new.len(), 2);
    /// seen = new.last().map(|m| m.id());
    /// assert!(desk.get_chat_messages(&anna, id, seen, 100)?.is_empty()); // nothing newer
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound);
    /// [`Validation`](crate::Error::Validation) naming `limit` above 500.
    pub fn get_chat_messages(
        &self,
        caller: &Caller,
        id: SessionId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>> {
        let _op = super::trace::op("get_chat_messages", caller).session(id);
        let after = after.unwrap_or(MessageId(0));
        let now = self.now();
        let (s, rel, mut list) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            // NotFound first, then a bad argument.
            if limit > MAX_MESSAGES_PER_FETCH {
                return Err(Error::validation("limit", format!("{limit}; at most 500")));
            }
            let list = tx.messages(id, after, limit)?;
            Ok((s, rel, list))
        })?;
        if rel.is_customer {
            // "Older than the interval": strictly.
            let interval = super::whole_secs(self.config.fetch_write_interval)
                .saturating_mul(crate::clock::ticks_per_second());
            let stale = s
                .when_fetched
                .is_none_or(|f| now.ticks_since(f) > interval || f > now);
            let unread = list.iter().any(|m| !m.read_by_customer);
            if stale || unread {
                list = self.write(Scope::default().session(id), |tx| {
                    let mut s = tx
                        .session(id)?
                        .ok_or_else(|| Error::not_found("session", id))?;
                    let mut list = tx.messages(id, after, limit)?;
                    for m in list.iter_mut().filter(|m| !m.read_by_customer) {
                        m.read_by_customer = true;
                        tx.put_message(m)?;
                    }
                    if stale {
                        s.when_fetched = Some(now);
                        tx.put_session(&s)?;
                    }
                    Ok(list)
                })?;
            }
        }
        Ok(list.iter().map(|m| message_carrier(caller, m)).collect())
    }

    /// The whole chat as plain text or HTML, times in the caller's zone;
    /// everything the customer, agents and the bot wrote is HTML-escaped in
    /// the HTML form. One line per message: `[YYYY-MM-DD HH:MM:SS] author:
    /// text`, system messages as `* text`.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatMessage, TranscriptFormat};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// desk.add_chat_message(&customer, id, &ChatMessage { message: "Hello".into(), ..Default::default() })?;
    /// let oslo = Caller::agent(anna).with_zone("Europe/Oslo")?;
    /// let text = desk.get_chat_transcript(&oslo, id, TranscriptFormat::Text)?;
    /// assert!(text.ends_with("Ann: Hello\n"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) when there is no such session or
    /// the caller may not see it.
    pub fn get_chat_transcript(
        &self,
        caller: &Caller,
        id: SessionId,
        format: TranscriptFormat,
    ) -> Result<String> {
        let _op = super::trace::op("get_chat_transcript", caller).session(id);
        let (s, rel, list) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            let (s, rel, _) = visible_session(tx, who, id)?;
            let mut all = Vec::new();
            let mut after = MessageId(0);
            loop {
                let page = tx.messages(id, after, 1000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                all.extend(page);
            }
            Ok((s, rel, all))
        })?;
        self.customer_seen(&rel, s)?;
        let mut out = String::with_capacity(
            list.iter()
                .map(|m| m.text.len() + m.author.len() + 32)
                .sum::<usize>(),
        );
        if format == TranscriptFormat::Html {
            out.push_str("<div class=\"chat-transcript\">\n");
        }
        for m in &list {
            let when = match wire_time(caller, Some(m.when_posted)) {
                crate::wire::WireDateTime::At(dt) => Some(dt),
                crate::wire::WireDateTime::Unset => None,
            };
            match format {
                TranscriptFormat::Text => {
                    out.push('[');
                    if let Some(dt) = &when {
                        push_stamp(&mut out, dt);
                    }
                    out.push_str("] ");
                    if m.author.is_empty() {
                        out.push_str("* ");
                    } else {
                        push_continued(&mut out, &m.author);
                        out.push_str(": ");
                    }
                    push_continued(&mut out, &m.text);
                    out.push('\n');
                }
                TranscriptFormat::Html => {
                    let class = match m.kind {
                        ChatMessageType::ToUser => "customer",
                        ChatMessageType::ToCustomer => "agent",
                        _ => "system",
                    };
                    out.push_str("<p class=\"msg ");
                    out.push_str(class);
                    out.push_str("\"><time datetime=\"");
                    if let Some(dt) = &when {
                        push_escaped(&mut out, &dt.to_rfc3339());
                    }
                    out.push_str("\">");
                    if let Some(dt) = &when {
                        push_stamp(&mut out, dt);
                    }
                    out.push_str("</time> <b>");
                    push_escaped(&mut out, &m.author);
                    out.push_str("</b> ");
                    push_escaped(&mut out, &m.text);
                    out.push_str("</p>\n");
                }
            }
        }
        if format == TranscriptFormat::Html {
            out.push_str("</div>\n");
        }
        Ok(out)
    }

    /// Says that the caller (the session's customer, or its User) is or is not
    /// typing. Kept in this service instance's memory only; it expires after
    /// the configured time.
    ///
    /// # Errors
    /// NotFound; Forbidden for anyone else.
    pub fn set_typing(&self, caller: &Caller, id: SessionId, typing: bool) -> Result<()> {
        let _op = super::trace::op("set_typing", caller).session(id);
        let now = self.now();
        let (s, rel, is_customer) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            match who {
                Who::Agent(_) => {
                    let (s, rel) = authorize_role(tx, who, id, Op::AgentMessage)?;
                    Ok((s, rel, false))
                }
                _ => {
                    let (s, rel) = authorize_role(tx, who, id, Op::CustomerMessage)?;
                    Ok((s, rel, true))
                }
            }
        })?;
        // Typing is ephemeral: never a stored write (not even WhenFetched).
        let _ = (s, rel);
        let expiry = if typing {
            super::whole_secs(self.config.typing_expiry)
        } else {
            0
        };
        self.typing.set(id, is_customer, typing, now, expiry);
        Ok(())
    }

    /// Who is typing in a session now (expired states count as not typing).
    ///
    /// # Errors
    /// NotFound when the caller may not see the session.
    pub fn get_typing(&self, caller: &Caller, id: SessionId) -> Result<Typing> {
        let _op = super::trace::op("get_typing", caller).session(id);
        let (s, rel, _) = self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            visible_session(tx, who, id)
        })?;
        self.customer_seen(&rel, s)?;
        Ok(self.typing.get(id, || self.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::push_stamp;
    use chrono::{DateTime, FixedOffset, TimeZone};
    use proptest::prelude::*;

    proptest! {
        /// The digit-by-digit stamp is chrono's `%Y-%m-%d %H:%M:%S`.
        #[test]
        fn stamp_is_chronos_format(
            secs in -62_135_596_800i64..253_402_300_799,
            offset_min in -14 * 60i32..=14 * 60,
        ) {
            let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
            let dt: DateTime<FixedOffset> =
                offset.from_utc_datetime(&DateTime::from_timestamp(secs, 0).unwrap().naive_utc());
            let mut out = String::new();
            push_stamp(&mut out, &dt);
            prop_assert_eq!(out, dt.format("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
}
