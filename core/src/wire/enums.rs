//! Plain (non-flag) enums of SuperOffice's chat API: exact names and codes,
//! serde by exact, case-sensitive name.

use super::flags::{FlagTable, FromStrVisitor};

/// A name that a plain enum does not have (names are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} name {name:?}; expected one of {expected}")]
pub struct UnknownEnumName {
    /// The enum being parsed.
    pub type_name: &'static str,
    /// The name given.
    pub name: String,
    /// The names the enum has, comma-separated.
    pub expected: String,
}

/// Defines a plain enum with its names and codes; the first member is the
/// default. Deserialization is added separately (see `deserialize_by_name!`).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $ty:ident {
            $(#[$m0:meta])* $v0:ident = $c0:literal
            $(, $(#[$vm:meta])* $v:ident = $c:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum $ty {
            $(#[$m0])*
            #[default]
            $v0 = $c0,
            $($(#[$vm])* $v = $c,)*
        }

        impl $ty {
            /// Every member's name, in code order.
            pub const NAMES: &'static [&'static str] = &[stringify!($v0) $(, stringify!($v))*];

            /// The numeric code SuperOffice gives this member.
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The member with this code, if any.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code {
                    $c0 => Some(Self::$v0),
                    $($c => Some(Self::$v),)*
                    _ => None,
                }
            }

            /// The member's exact wire name.
            pub const fn name(self) -> &'static str {
                match self {
                    Self::$v0 => stringify!($v0),
                    $(Self::$v => stringify!($v),)*
                }
            }

            /// The member with exactly this (case-sensitive) name, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    stringify!($v0) => Some(Self::$v0),
                    $(stringify!($v) => Some(Self::$v),)*
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

/// Adds `FromStr` and `Deserialize` by exact name to a `wire_enum!` type.
macro_rules! deserialize_by_name {
    ($($ty:ident),+ $(,)?) => {$(
        impl ::std::str::FromStr for $ty {
            type Err = UnknownEnumName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s).ok_or_else(|| UnknownEnumName {
                    type_name: stringify!($ty),
                    name: s.to_owned(),
                    expected: Self::NAMES.join(", "),
                })
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(FromStrVisitor::<Self>::new(stringify!($ty)))
            }
        }
    )+};
}

wire_enum! {
    /// The state of a chat session (which operation leads where:
    /// [`crate::guide::lifecycle`]).
    ChatSessionStatus {
        /// Not a real state.
        Invalid = 0,
        /// The customer fills in the pre-chat form.
        PreChatForm = 1,
        /// The customer reads the automatic FAQ.
        Faq = 2,
        /// The customer fills in the offline form.
        OfflineForm = 3,
        /// Waiting for an agent (or run by the bot).
        InQueue = 4,
        /// Active; the customer wrote last.
        CustomerLast = 5,
        /// Active; the agent (or bot) wrote last.
        UserLast = 6,
        /// Closed and the post-chat form done.
        Finished = 7,
        /// Soft-deleted.
        Deleted = 8,
        /// Ended.
        Closed = 9,
        /// An offline request was posted.
        RequestPosted = 10,
        /// Ended while waiting in the queue.
        ClosedFromQueue = 11,
    }
}

wire_enum! {
    /// Who a chat message goes to.
    ChatMessageType {
        /// Not a real type.
        Invalid = 0,
        /// From an agent or the bot to the customer.
        ToCustomer = 1,
        /// From the customer to the agent.
        ToUser = 2,
        /// A system message.
        Special = 3,
    }
}

wire_enum! {
    /// What kind of special message a chat message is.
    ChatMessageSpecialType {
        /// An ordinary message.
        None = 0,
        /// The topic's welcome message.
        Welcome = 1,
        /// A URL.
        Url = 2,
        /// A block.
        Block = 3,
        /// A new session.
        NewSession = 5,
        /// The session was transferred (sic).
        TransferedSession = 6,
        /// An error.
        Error = 7,
        /// The session was deleted.
        SessionDeleted = 8,
        /// The FAQ answered the question.
        FaqSuccessQuestion = 9,
        /// Closed by the agent.
        ClosedByUser = 10,
        /// Closed by the customer.
        ClosedByCustomer = 11,
        /// Closed by the idle sweep.
        ClosedByIdle = 12,
        /// A transfer was rejected.
        TransferRejected = 13,
        /// Reopened by the customer.
        ReopenedByCustomer = 14,
        /// The customer clicked an option.
        ClickedOption = 15,
        /// A bot message.
        BotMessage = 16,
        /// A bot message offering options.
        Options = 17,
        /// An illegal file type.
        IllegalFileType = 18,
    }
}

wire_enum! {
    /// The chat widget's size.
    WidgetSize {
        /// Normal size.
        Normal = 0,
        /// Large.
        Large = 1,
    }
}

wire_enum! {
    /// The chat widget's theme.
    WidgetTheme {
        /// The classic theme.
        Classic = 0,
        /// The modern theme.
        Modern = 1,
    }
}

wire_enum! {
    /// Typing state of a session: output only. On input both names,
    /// and comma-separated lists of them (case-insensitive, as for any flag
    /// enum), are accepted and ignored: deserializing always gives
    /// `CustomerIsTyping`.
    ChatSessionFlags {
        /// No one (or the customer) is typing: .NET's name for "no flag set".
        CustomerIsTyping = 0,
        /// The agent is typing.
        UserIsTyping = 1,
    }
}

wire_enum! {
    /// Whether a topic's waiting sessions are picked up by hand or assigned
    /// by routing (chatdesk's own setting; see [`crate::guide::routing`]).
    RoutingMode {
        /// Agents pick sessions up by hand (the default).
        Manual = 0,
        /// A waiting session goes to an eligible agent as soon as there is
        /// one, inside the transaction that made it possible.
        Auto = 1,
    }
}

wire_enum! {
    /// Which eligible agent an Auto topic's session goes to.
    RoutingStrategy {
        /// The lowest load, then the earliest last assignment, then the
        /// lowest user id (the default).
        LeastBusy = 0,
        /// The earliest last assignment, then the lowest load, then the
        /// lowest user id.
        LongestIdle = 1,
    }
}

deserialize_by_name!(
    RoutingMode,
    RoutingStrategy,
    ChatSessionStatus,
    ChatMessageType,
    ChatMessageSpecialType,
    WidgetSize,
    WidgetTheme
);

/// ChatSessionFlags read as a flag enum, only to check the names.
const SESSION_FLAGS_TABLE: FlagTable = FlagTable {
    type_name: "ChatSessionFlags",
    names: &[("CustomerIsTyping", 0), ("UserIsTyping", 1)],
    preferred: &[],
};

/// Parses the names (so that a wrong name is an error) and ignores them.
#[derive(Debug)]
struct IgnoredFlags;

impl std::str::FromStr for IgnoredFlags {
    type Err = super::flags::FlagParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SESSION_FLAGS_TABLE.parse(s).map(|_| IgnoredFlags)
    }
}

impl<'de> serde::Deserialize<'de> for ChatSessionFlags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromStrVisitor::<IgnoredFlags>::new("ChatSessionFlags"))?;
        Ok(Self::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names() {
        for &name in ChatMessageSpecialType::NAMES {
            let v = ChatMessageSpecialType::from_name(name);
            assert_eq!(v.map(ChatMessageSpecialType::name), Some(name));
            let code = v.map_or(-1, ChatMessageSpecialType::code);
            assert_eq!(ChatMessageSpecialType::from_code(code), v);
        }
        assert_eq!(ChatMessageSpecialType::from_code(4), None);
        assert_eq!(ChatSessionStatus::ClosedFromQueue.code(), 11);
        assert_eq!(WidgetTheme::default(), WidgetTheme::Classic);
        assert_eq!(ChatSessionStatus::from_name("closed"), None);
    }
}
