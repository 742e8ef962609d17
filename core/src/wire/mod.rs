//! Wire carriers: the SuperOffice JSON shapes, built at the edge.
//!
//! - Carriers chatdesk builds ([`ChatSessionEntity`], [`ChatMessage`],
//!   [`ChatTopicEntity`] and its settings, [`ChatTopicAgent`],
//!   [`ChatPresence`]) write every field, in SuperOffice's order. On input a
//!   missing field takes its default and unknown keys are ignored (so a
//!   client sending a newer carrier still gets through); present fields must
//!   have their exact JSON type.
//! - Summaries of records chatdesk does not own ([`Associate`], [`Person`],
//!   …) are [`RawObject`]s: the JSON object as received, type-checked against
//!   its [`Schema`], written back exactly.
//! - Enums are written by name; flag values ([`TableRightMask`],
//!   [`FieldRightMask`], [`CustomerFieldFlags`]) as .NET writes flag enums.
//! - Date-times are [`WireDateTime`].
//!
//! Deserialization never panics: every bad input is a serde error.

/// Defines a carrier that chatdesk builds: one struct whose fields carry
/// their exact JSON names, and its `FIELDS` list, from one field list.
///
/// Deserialization goes through a private twin struct, entered only through
/// `deserialize_map`: serde's derive would also accept a JSON array of the
/// fields in order, which is not the carrier's JSON type.
/// One field of a carrier's `Debug`: as it is, or redacted (`as secret`).
macro_rules! debug_field {
    ($d:ident, $name:expr, $value:expr) => {
        $d.field($name, $value);
    };
    ($d:ident, $name:expr, $value:expr, secret) => {
        $d.field($name, &$crate::wire::Redacted($value));
    };
}

///
/// A field may name its default (`"Key" => field: Type = expr`); the others
/// take their type's. `Default` and a field missing from the input both
/// give it. A field marked `as secret` shows as `"…"` in `Debug`.
macro_rules! carrier {
    (@default) => { ::std::default::Default::default() };
    (@default $e:expr) => { $e };
    (
        $(#[$m:meta])*
        $ty:ident {
            $($(#[$fm:meta])* $json:literal => $field:ident: $fty:ty $(as $secret:ident)? $(= $def:expr)?),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, ::serde::Serialize)]
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

        /// Every field, except that a session key is shown as `"…"` (or
        /// `""`): keys must not end up in logs.
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                $(
                    debug_field!(d, stringify!($field), &self.$field $(, $secret)?);
                )+
                d.finish()
            }
        }

        impl $ty {
            /// The JSON keys, in SuperOffice's order (the order they are written).
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

/// Shows a secret as `"…"` in `Debug` output (`""` when it is empty).
pub(crate) struct Redacted<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: ?Sized + AsRef<str>> std::fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.as_ref().is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"…\"")
        }
    }
}

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
