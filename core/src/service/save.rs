//! `save_chat_session_entity`: only the fields writable at all are
//! compared; a stale carrier is Conflict; nothing is written when nothing
//! differs.

use super::feed::{Emit, actor_of, record_event};
use super::lifecycle::touch_customer;
use super::scope::Scope;
use super::sessions::{crm_links, customer_info, relation, visible_session};
use super::{ChatDesk, Who};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::rights::{SESSION_FIELDS, session_field_right, session_table_right, table};
use crate::storage::{Storage, WriteTx};
use crate::wire::{Associate, ChatSessionEntity};

fn user_id(a: &Option<Associate>) -> Option<UserId> {
    a.as_ref().and_then(|a| a.id()).map(UserId)
}

/// # Sessions: saving a carrier
///
/// The customer fields and CRM links a caller may write (see
/// [`crate::guide::rights`]).
impl<S: Storage> ChatDesk<S> {
    /// Saves the writable fields of a session carrier: the Customer* fields,
    /// CustomerConsented and the Person / Contact / Project / Sale / Ticket
    /// links (by id). Every other field is ignored, except that a Status,
    /// User or TransferTo different from the stored one makes the carrier
    /// stale. A save with no difference writes nothing. Read the carrier, change
    /// it, save it:
    ///
    /// ```
    /// use chatdesk::Caller;
    /// # fn main() -> chatdesk::Result<()> {
    /// # let (desk, topic, anna) = chatdesk::doc_support::desk_with_agent()?;
    /// # let (id, _customer) = chatdesk::doc_support::ongoing_chat(&desk, topic, anna)?;
    /// let anna = Caller::agent(anna);
    /// let mut session = desk.get_chat_session_entity(&anna, id)?;
    /// session.customer_name = "Ann Smith".into();
    /// let saved = desk.save_chat_session_entity(&anna, &session)?;
    /// assert_eq!(saved.customer_name, "Ann Smith");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// In this order:
    /// - [`NotFound`](crate::Error::NotFound): ChatSessionId 0, no such
    ///   session, or the caller may not see it.
    /// - [`Conflict`](crate::Error::Conflict): the carrier is stale (the
    ///   session moved on since it was read); read it again and redo the change.
    /// - [`Validation`](crate::Error::Validation): a field over its length.
    /// - [`FieldRightDenied`](crate::Error::FieldRightDenied) naming the first
    ///   differing field, in carrier order, that the caller may not write.
    pub fn save_chat_session_entity(
        &self,
        caller: &Caller,
        entity: &ChatSessionEntity,
    ) -> Result<ChatSessionEntity> {
        let _op = super::trace::op("save_chat_session_entity", caller)
            .session(SessionId(entity.chat_session_id));
        let now = self.now();
        let id = SessionId(entity.chat_session_id);
        let mut scope = Scope::of(caller).session(id);
        // A save may name a new User or TransferTo, whose load it changes.
        for u in [user_id(&entity.user), user_id(&entity.transfer_to)]
            .into_iter()
            .flatten()
        {
            scope = scope.user(u);
        }
        let (s, bits, customer) = self.write(scope, |tx| {
            let who = Who::resolve(tx, caller)?;
            if id.0 == 0 {
                return Err(Error::not_found("session", id));
            }
            let (mut s, rel, bits) = visible_session(tx, who, id)?;
            let customer = rel.is_customer;
            let stale = entity.status != s.status
                || user_id(&entity.user) != s.user
                || (!customer && user_id(&entity.transfer_to) != s.transfer_to);
            if stale {
                return Err(Error::conflict(format!(
                    "session {id} changed since this carrier was read (Status, User or TransferTo differ); read it again"
                )));
            }
            let info = customer_info(entity)?;
            let links = if customer { s.links } else { crm_links(entity) };
            let old = (&s.customer, &s.links);
            let differs = |name: &str| -> bool {
                match name {
                    "CustomerAlias" => info.alias != old.0.alias,
                    "CustomerHost" => info.host != old.0.host,
                    "CustomerName" => info.name != old.0.name,
                    "CustomerEmail" => info.email != old.0.email,
                    "CustomerPhone" => info.phone != old.0.phone,
                    "CustomerConsented" => info.consented != old.0.consented,
                    "CustomerCompanyName" => info.company != old.0.company,
                    "Person" => links.person != old.1.person,
                    "Contact" => links.contact != old.1.contact,
                    "Project" => links.project != old.1.project,
                    "Sale" => links.sale != old.1.sale,
                    "Ticket" => links.ticket != old.1.ticket,
                    _ => false,
                }
            };
            let mut any = false;
            for spec in SESSION_FIELDS.iter().filter(|f| f.writable) {
                if !differs(spec.name) {
                    continue;
                }
                let (mask, reason) = session_field_right(spec, bits, customer);
                if bits & table::UPDATE == 0 || mask & 2 == 0 {
                    let reason = if reason.is_empty() {
                        "no write right".to_string()
                    } else {
                        reason.to_string()
                    };
                    return Err(Error::FieldRightDenied {
                        field: spec.name.to_string(),
                        reason,
                    });
                }
                any = true;
            }
            if !any {
                return Ok((s, bits, customer));
            }
            let before = s.clone();
            s.customer = info;
            s.links = links;
            touch_customer(&rel, &mut s, now);
            tx.put_session(&s)?;
            record_event(tx, Emit::changed(), now, actor_of(caller), Some(&before), &s)?;
            let rel = relation(tx, who, &s)?;
            let bits = session_table_right(&rel, &s).unwrap_or(bits);
            Ok((s, bits, customer))
        })?;
        Ok(self.session_entity(caller, &s, bits, customer, None))
    }
}
