//! Wire carriers (SPEC §6): the SuperOffice JSON shapes, built at the edge.
//!
//! - Carriers chatdesk builds ([`ChatSessionEntity`], [`ChatMessage`],
//!   [`ChatTopicEntity`] and its settings, [`ChatTopicAgent`],
//!   [`ChatPresence`]) write every field, in CARRIERS.md order. On input a
//!   missing field takes its default and unknown keys are ignored (so a
//!   client sending a newer carrier still gets through); present fields must
//!   have their exact JSON type.
//! - Summaries of records chatdesk does not own ([`Associate`], [`Person`],
//!   …) are [`RawObject`]s: the JSON object as received, type-checked against
//!   its [`Schema`], written back exactly.
//! - Enums are written by name; flag values ([`TableRightMask`],
//!   [`FieldRightMask`], [`CustomerFieldFlags`]) as SPEC §2 says.
//! - Date-times are [`WireDateTime`].
//!
//! Deserialization never panics: every bad input is a serde error.

/// Defines a carrier that chatdesk builds: one struct whose fields carry
/// their exact JSON names, and its `FIELDS` list, from one field list.
///
/// Deserialization goes through a private twin struct, entered only through
/// `deserialize_map`: serde's derive would also accept a JSON array of the
/// fields in order, which is not the carrier's JSON type.
///
/// A field may name its default (`"Key" => field: Type = expr`); the others
/// take their type's. `Default` and a field missing from the input both
/// give it.
macro_rules! carrier {
    (@default) => { ::std::default::Default::default() };
    (@default $e:expr) => { $e };
    (
        $(#[$m:meta])*
        $ty:ident {
            $($(#[$fm:meta])* $json:literal => $field:ident: $fty:ty $(= $def:expr)?),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize)]
        pub struct $ty {
            $(
                $(#[$fm])*
                #[serde(rename = $json)]
                pub $field: $fty,
            )+
        }

        #[allow(clippy::derivable_impls)]
        impl ::std::default::Default for $ty {
            fn default() -> Self {
                $ty {
                    $($field: carrier!(@default $($def)?),)+
                }
            }
        }

        impl $ty {
            /// The JSON keys, in CARRIERS.md order (the order they are written).
            pub const FIELDS: &'static [&'static str] = &[$($json),+];
        }

        const _: () = {
            #[derive(::serde::Deserialize)]
            #[serde(default)]
            struct Twin {
                $(
                    #[serde(rename = $json)]
                    $field: $fty,
                )+
            }

            impl ::std::default::Default for Twin {
                fn default() -> Self {
                    let d = <$ty as ::std::default::Default>::default();
                    Twin { $($field: d.$field),+ }
                }
            }

            struct ObjectVisitor;

            impl<'de> ::serde::de::Visitor<'de> for ObjectVisitor {
                type Value = $ty;

                fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(concat!("a ", stringify!($ty), " object"))
                }

                fn visit_map<A: ::serde::de::MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                    let twin = <Twin as ::serde::Deserialize>::deserialize(
                        ::serde::de::value::MapAccessDeserializer::new(map),
                    )?;
                    Ok($ty { $($field: twin.$field),+ })
                }
            }

            impl<'de> ::serde::Deserialize<'de> for $ty {
                fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    d.deserialize_map(ObjectVisitor)
                }
            }
        };
    };
}

mod accessors;
mod agent;
mod datetime;
mod enums;
pub(crate) mod flags;
mod hours;
mod message;
mod presence;
mod raw;
mod routing;
mod rights;
pub(crate) mod schema;
mod session;
mod topic;
mod widget;

pub use agent::ChatTopicAgent;
pub use datetime::{UNSET_WIRE, WireDateTime, WireDateTimeError};
pub use enums::{
    ChatMessageSpecialType, ChatMessageType, ChatSessionFlags, ChatSessionStatus, RoutingMode,
    RoutingStrategy, UnknownEnumName, WidgetSize, WidgetTheme,
};
pub use flags::{CustomerFieldFlags, FieldRightMask, FlagParseError, TableRightMask};
pub use hours::ChatOpeningHours;
pub use message::ChatMessage;
pub use presence::ChatPresence;
pub use raw::{
    Associate, AssociateKind, Contact, ContactKind, CustomerLanguage, CustomerLanguageKind,
    KbCategory, KbCategoryKind, Person, PersonKind, Project, ProjectKind, RawObject, ReplyTemplate,
    ReplyTemplateKind, Sale, SaleKind, SummaryKind, Ticket, TicketCategory, TicketCategoryKind,
    TicketKind, TicketPriority, TicketPriorityKind, TimeZoneData, TimeZoneDataKind,
};
pub use rights::{FieldProperties, FieldProperty, FieldRight, TableRight};
pub use routing::{ChatAgentCapacity, ChatTopicRouting};
pub use session::ChatSessionEntity;
pub use topic::{ChatBotSettings, ChatTopicEntity};
pub use widget::ChatWidgetSettings;
