//! Rights as pure functions (the tables are in [`crate::guide::rights`]): who
//! the caller is to a record → TableRight bits and per-field FieldRight bits.
//! The service turns them into carriers at the edge.

use crate::model::{MemberRecord, SessionRecord};
use crate::wire::ChatSessionStatus;

/// ETableRight bits.
pub(crate) mod table {
    /// No right.
    pub(crate) const NONE: u32 = 0;
    /// Select.
    pub(crate) const SELECT: u32 = 1;
    /// Update.
    pub(crate) const UPDATE: u32 = 2;
    /// Insert.
    pub(crate) const INSERT: u32 = 4;
    /// Delete.
    pub(crate) const DELETE: u32 = 8;
    /// Select | Update.
    pub(crate) const UR: u32 = SELECT | UPDATE;
    /// Select | Update | Insert | Delete.
    pub(crate) const FULL: u32 = SELECT | UPDATE | INSERT | DELETE;
}

/// EFieldRight bits.
pub(crate) mod field {
    /// Hidden.
    pub(crate) const NONE: u32 = 0;
    /// Read.
    pub(crate) const READ: u32 = 1;
    /// Read and write.
    pub(crate) const FULL: u32 = 3;
    /// The value may be null (summaries).
    pub(crate) const NULLABLE: u32 = 32;
}

/// What kind of value a carrier field holds, for FieldProperties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    /// The carrier's JSON name.
    pub name: &'static str,
    /// `FieldType` as written (`System.Int32`, `Associate`, …).
    pub field_type: &'static str,
    /// `FieldLength`: the field's length limit in characters, 0 where none.
    pub length: i32,
    /// Writable at all through save (only where the caller has Update).
    pub writable: bool,
    /// A summary object (visible ones add Nullable).
    pub summary: bool,
    /// Hidden from the session's customer.
    pub customer_hidden: bool,
    /// Hidden from everyone.
    pub always_hidden: bool,
}

const fn f(name: &'static str, field_type: &'static str, length: i32) -> FieldSpec {
    FieldSpec {
        name,
        field_type,
        length,
        writable: false,
        summary: false,
        customer_hidden: false,
        always_hidden: false,
    }
}

const fn w(mut s: FieldSpec) -> FieldSpec {
    s.writable = true;
    s
}

const fn summary(name: &'static str, ty: &'static str, writable: bool, hidden: bool) -> FieldSpec {
    let mut s = f(name, ty, 0);
    s.summary = true;
    s.writable = writable;
    s.customer_hidden = hidden;
    s
}

const INT: &str = "System.Int32";
const STR: &str = "System.String";
const BOOL: &str = "System.Boolean";
const DATE: &str = "System.DateTime";

/// The fields of `ChatSessionEntity` that FieldProperties describes, in
/// carrier order (every field but TableRight and FieldProperties).
pub(crate) const SESSION_FIELDS: [FieldSpec; 31] = [
    f("ChatSessionId", INT, 0),
    f("TopicId", INT, 0),
    summary("User", "Associate", false, false),
    summary("Person", "Person", true, true),
    w(f("CustomerAlias", STR, 64)),
    w(f("CustomerHost", STR, 255)),
    w(f("CustomerName", STR, 255)),
    w(f("CustomerEmail", STR, 255)),
    w(f("CustomerPhone", STR, 32)),
    w(f("CustomerConsented", BOOL, 0)),
    w(f("CustomerCompanyName", STR, 255)),
    f("Status", "ChatSessionStatus", 0),
    f("FirstMessage", STR, 1024),
    f("LastMessage", STR, 1024),
    f("WhenRequested", DATE, 0),
    f("WhenStarted", DATE, 0),
    f("WhenEnded", DATE, 0),
    f("WhenIdle", DATE, 0),
    f("WhenFetched", DATE, 0),
    FieldSpec {
        always_hidden: true,
        ..f("SessionKey", STR, 255)
    },
    f("InitialQueuePos", INT, 0),
    f("AlertLevel", INT, 0),
    f("Rank", INT, 0),
    f("Flags", "ChatSessionFlags", 0),
    summary("Contact", "Contact", true, true),
    summary("Project", "Project", true, true),
    summary("Sale", "Sale", true, true),
    summary("Ticket", "Ticket", true, true),
    summary("TransferTo", "Associate", false, true),
    f("ChatbotIsActive", BOOL, 0),
    f("Rating", INT, 0),
];

/// Who the caller is to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SessionRelation {
    /// The host.
    pub system: bool,
    /// The caller's membership of the session's topic.
    pub member: Option<MemberRecord>,
    /// The caller is the session's User.
    pub is_user: bool,
    /// The caller is the session's customer.
    pub is_customer: bool,
}

/// The TableRight bits of a session for a caller (the union over everything the
/// caller is to it: System, manager, User, member, customer); `None` means the
/// session is NotFound for them.
pub(crate) fn session_table_right(rel: &SessionRelation, s: &SessionRecord) -> Option<u32> {
    use table::*;
    let deleted = s.status == ChatSessionStatus::Deleted;
    let open = s.is_open();
    let mut bits: Option<u32> = None;
    let mut grant = |b: u32| bits = Some(bits.unwrap_or(NONE) | b);
    let manager = rel.member.is_some_and(|m| m.can_manage);
    if rel.system || manager {
        grant(if open {
            FULL
        } else if deleted {
            SELECT
        } else {
            SELECT | DELETE
        });
    }
    if deleted {
        return bits;
    }
    if rel.is_user {
        if s.is_active() {
            grant(UR);
        } else if !open {
            grant(SELECT);
        }
    }
    if let Some(m) = rel.member {
        let notify_sees = m.can_notify && open && s.in_human_queue();
        if m.can_respond || m.can_listen || notify_sees {
            grant(SELECT);
        }
    }
    if rel.is_customer {
        grant(if open { UR } else { SELECT });
    }
    bits
}

/// The FieldRight bits and Reason of one session field, for a caller with
/// table right `table_bits`, who is (or is not) the session's customer.
pub(crate) fn session_field_right(
    spec: &FieldSpec,
    table_bits: u32,
    customer: bool,
) -> (u32, &'static str) {
    if spec.always_hidden {
        return (field::NONE, "never shown after create");
    }
    if customer && spec.customer_hidden {
        return (field::NONE, "hidden from customers");
    }
    let nullable = if spec.summary { field::NULLABLE } else { 0 };
    if spec.writable && table_bits & table::UPDATE != 0 {
        (field::FULL | nullable, "")
    } else if spec.writable {
        (field::READ | nullable, "no Update right on this session")
    } else {
        (field::READ | nullable, "changed only by chat operations")
    }
}
