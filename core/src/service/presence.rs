//! Presence (`ChatPresence`): who is there to answer.

use super::build::presence_carrier;
use super::routing::routing_pass;
use super::scope::Scope;
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::model::PresenceRecord;
use crate::storage::{ReadTx, Storage};
use crate::wire::ChatPresence;
use std::collections::BTreeSet;

/// What a presence carrier needs besides the record.
fn facts(tx: &dyn ReadTx, user: UserId) -> Result<(PresenceRecord, i32, Vec<i32>)> {
    let p = tx.presence(user)?.unwrap_or(PresenceRecord {
        user,
        present: false,
        display_name: String::new(),
    });
    let ongoing = i32::try_from(tx.active_ranks(user)?.len()).unwrap_or(i32::MAX);
    let topics = tx
        .user_memberships(user)?
        .into_iter()
        .filter(|m| m.can_respond)
        .map(|m| m.topic.0)
        .collect();
    Ok((p, ongoing, topics))
}

fn check_read(who: Who, op: &'static str) -> Result<()> {
    match who {
        Who::System | Who::Agent(_) => Ok(()),
        _ => Err(Error::forbidden(op, "customers do not read presence")),
    }
}

fn check_save(who: Who, user: UserId, op: &'static str) -> Result<()> {
    match who {
        Who::System => Ok(()),
        Who::Agent(me) if me == user => Ok(()),
        Who::Agent(_) => Err(Error::forbidden(op, "agents save only their own presence")),
        _ => Err(Error::forbidden(op, "customers do not save presence")),
    }
}

/// # Presence
///
/// Whether an agent is present to take chats, and the name they sign with.
impl<S: Storage> ChatDesk<S> {
    /// A user's presence (not Present, DisplayName "" if never saved).
    ///
    /// # Errors
    /// Forbidden for customers.
    pub fn get_chat_presence(&self, caller: &Caller, user: UserId) -> Result<ChatPresence> {
        let _op = super::trace::op("get_chat_presence", caller).user(user);
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            check_read(who, "get_chat_presence")?;
            let (p, n, topics) = facts(tx, user)?;
            Ok(presence_carrier(&p, n, topics, own(who, user)))
        })
    }

    /// Saves Present and DisplayName (agents their own, System anyone's); the
    /// other fields are computed and ignored on input. An agent who is not
    /// present gets no new chats: when no member with CanRespond is present,
    /// new sessions go to the offline form.
    ///
    /// ```
    /// use chatdesk::{Caller, ChatPresence};
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, _topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// let me = Caller::agent(anna);
    /// desk.save_chat_presence(&me, &ChatPresence::new(anna, false, "Anna"))?; // lunch
    /// assert!(!desk.get_chat_presence(&me, anna)?.present);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) (an agent saving someone else's,
    /// customers); [`Validation`](crate::Error::Validation) for a UserId ≤ 0
    /// or a DisplayName over 255 characters.
    pub fn save_chat_presence(
        &self,
        caller: &Caller,
        presence: &ChatPresence,
    ) -> Result<ChatPresence> {
        let _op = super::trace::op("save_chat_presence", caller).user(UserId(presence.user_id));
        let now = self.now();
        let scope = Scope::of(caller).user(UserId(presence.user_id));
        self.write_routed(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            let user = UserId(presence.user_id);
            check_save(who, user, "save_chat_presence")?;
            save_one(tx, presence)?;
            routing_pass(tx, &*self.directory, now)?;
            let (p, n, topics) = facts(tx, user)?;
            Ok(presence_carrier(&p, n, topics, true))
        })
    }

    /// Every user who has a membership or a saved presence, by UserId
    /// (REST `Presence/GetAll`).
    ///
    /// # Errors
    /// Forbidden for customers.
    pub fn get_all_chat_presence(&self, caller: &Caller) -> Result<Vec<ChatPresence>> {
        let _op = super::trace::op("get_all_chat_presence", caller);
        self.read(|tx| {
            let who = Who::resolve(tx, caller)?;
            check_read(who, "get_all_chat_presence")?;
            let mut users: BTreeSet<UserId> = tx.presences()?.iter().map(|p| p.user).collect();
            users.extend(tx.all_members()?.iter().map(|m| m.user));
            users
                .into_iter()
                .map(|u| {
                    let (p, n, topics) = facts(tx, u)?;
                    Ok(presence_carrier(&p, n, topics, own(who, u)))
                })
                .collect()
        })
    }

    /// Saves several presences in one transaction: all or none
    /// (REST `Presence/SaveAll`).
    ///
    /// # Errors
    /// As [`Self::save_chat_presence`], for the first failing entry.
    pub fn save_all_chat_presence(
        &self,
        caller: &Caller,
        presences: &[ChatPresence],
    ) -> Result<Vec<ChatPresence>> {
        let _op = super::trace::op("save_all_chat_presence", caller);
        let now = self.now();
        let scope = presences
            .iter()
            .fold(Scope::of(caller), |s, p| s.user(UserId(p.user_id)));
        self.write_routed(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            for p in presences {
                check_save(who, UserId(p.user_id), "save_all_chat_presence")?;
                save_one(tx, p)?;
            }
            routing_pass(tx, &*self.directory, now)?;
            presences
                .iter()
                .map(|p| {
                    let (rec, n, topics) = facts(tx, UserId(p.user_id))?;
                    Ok(presence_carrier(&rec, n, topics, true))
                })
                .collect()
        })
    }
}

fn own(who: Who, user: UserId) -> bool {
    match who {
        Who::System => true,
        Who::Agent(me) => me == user,
        _ => false,
    }
}

fn save_one(tx: &mut dyn crate::storage::WriteTx, p: &ChatPresence) -> Result<()> {
    if p.user_id <= 0 {
        return Err(Error::validation(
            "UserId",
            "must be a positive associate id",
        ));
    }
    let n = p.display_name.chars().count();
    if n > super::topic_rules::SHORT_TEXT {
        // It becomes the Author of the agent's messages (String(255)).
        return Err(Error::validation(
            "DisplayName",
            format!("{n} characters; at most 255"),
        ));
    }
    tx.put_presence(&PresenceRecord {
        user: UserId(p.user_id),
        present: p.present,
        display_name: p.display_name.clone(),
    })
}
