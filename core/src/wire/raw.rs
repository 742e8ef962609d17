//! Summaries of records chatdesk does not own: kept as the JSON
//! object received, key order included, type-checked for the known fields
//! present, and written back exactly.

use std::fmt;
use std::marker::PhantomData;

use serde_json::{Map, Value};

use super::schema::{self, Schema, SchemaError};

/// Which summary a [`RawObject`] holds: its schema and its id key.
pub trait SummaryKind: 'static {
    /// The field list the object is checked against.
    const SCHEMA: &'static Schema;
    /// The key holding the record's id.
    const ID_KEY: &'static str;
}

/// A summary kept as received: a JSON object, type-checked against
/// `K::SCHEMA` for the known fields present; unknown keys are kept.
pub struct RawObject<K: SummaryKind> {
    map: Map<String, Value>,
    kind: PhantomData<fn() -> K>,
}

impl<K: SummaryKind> RawObject<K> {
    /// Checks `map` against the schema and keeps it.
    ///
    /// # Errors
    /// [`SchemaError`] naming the first field with a wrong JSON type.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, SchemaError> {
        K::SCHEMA.check(&map)?;
        Ok(Self {
            map,
            kind: PhantomData,
        })
    }

    /// The summary holding only its id key, e.g. `{"PersonId": 5}` (what the
    /// service gives for an id the directory does not know).
    pub fn with_id(id: i32) -> Self {
        let mut map = Map::new();
        map.insert(K::ID_KEY.to_owned(), Value::from(id));
        Self {
            map,
            kind: PhantomData,
        }
    }

    /// The record's id, if the id key holds an int32.
    pub fn id(&self) -> Option<i32> {
        self.map
            .get(K::ID_KEY)
            .and_then(Value::as_i64)
            .and_then(|i| i32::try_from(i).ok())
    }

    /// The JSON object as received.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The JSON object, taken out.
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// The value of one key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The string value of one key.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }

    /// The schema this summary is checked against.
    pub fn schema() -> &'static Schema {
        K::SCHEMA
    }
}

impl<K: SummaryKind> fmt::Debug for RawObject<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple(K::SCHEMA.name()).field(&self.map).finish()
    }
}

impl<K: SummaryKind> Clone for RawObject<K> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: SummaryKind> PartialEq for RawObject<K> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

/// The empty object `{}`.
impl<K: SummaryKind> Default for RawObject<K> {
    fn default() -> Self {
        Self {
            map: Map::new(),
            kind: PhantomData,
        }
    }
}

impl<K: SummaryKind> TryFrom<Map<String, Value>> for RawObject<K> {
    type Error = SchemaError;
    fn try_from(map: Map<String, Value>) -> Result<Self, SchemaError> {
        Self::from_map(map)
    }
}

impl<K: SummaryKind> serde::Serialize for RawObject<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, K: SummaryKind> serde::Deserialize<'de> for RawObject<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Self::from_map(map).map_err(serde::de::Error::custom)
    }
}

macro_rules! summaries {
    ($($(#[$m:meta])* $alias:ident($kind:ident, $schema:ident, $id:literal);)+) => {$(
        #[doc = concat!("Marker for the `", stringify!($alias), "` summary kind.")]
        #[derive(Debug, Clone, Copy)]
        pub enum $kind {}

        impl SummaryKind for $kind {
            const SCHEMA: &'static Schema = &schema::$schema;
            const ID_KEY: &'static str = $id;
        }

        $(#[$m])*
        #[doc = concat!("\n\nId key: `", $id, "`.")]
        pub type $alias = RawObject<$kind>;
    )+};
}

summaries! {
    /// An associate (a CRM user) summary: a session's User and TransferTo, a
    /// membership's User.
    Associate(AssociateKind, ASSOCIATE, "AssociateId");
    /// A CRM person summary.
    Person(PersonKind, PERSON, "PersonId");
    /// A CRM company (contact) summary.
    Contact(ContactKind, CONTACT, "ContactId");
    /// A CRM project summary.
    Project(ProjectKind, PROJECT, "ProjectId");
    /// A CRM sale summary.
    Sale(SaleKind, SALE, "SaleId");
    /// A CRM ticket (request) summary.
    Ticket(TicketKind, TICKET, "TicketId");
    /// A topic's Language list item.
    CustomerLanguage(CustomerLanguageKind, CUSTOMER_LANGUAGE, "Id");
    /// A topic's AlertTemplate.
    ReplyTemplate(ReplyTemplateKind, REPLY_TEMPLATE, "ReplyTemplateId");
    /// A topic's TicketCategory list item.
    TicketCategory(TicketCategoryKind, TICKET_CATEGORY, "Id");
    /// A topic's TicketPriority list item.
    TicketPriority(TicketPriorityKind, TICKET_PRIORITY, "Id");
    /// A widget's AutoFaqCategory.
    KbCategory(KbCategoryKind, KB_CATEGORY, "KbCategoryId");
    /// Opening hours' TzLocation.
    TimeZoneData(TimeZoneDataKind, TIME_ZONE_DATA, "TZLocationID");
}

impl Associate {
    /// An associate summary naming an agent: `{"AssociateId": id, "FullName": full_name}`
    /// (e.g. to add a membership, or to register the agent's name in a
    /// [`MemoryDirectory`](crate::MemoryDirectory)).
    ///
    /// ```
    /// use chatdesk::{Associate, UserId};
    /// let anna = Associate::new(UserId(7), "Anna Agent");
    /// assert_eq!(anna.user_id(), Some(UserId(7)));
    /// assert_eq!(anna.full_name(), Some("Anna Agent"));
    /// ```
    pub fn new(id: crate::UserId, full_name: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert("AssociateId".to_owned(), Value::from(id.0));
        map.insert("FullName".to_owned(), Value::from(full_name.into()));
        Self {
            map,
            kind: PhantomData,
        }
    }

    /// The associate's id (`AssociateId`), if present as an int32.
    pub fn user_id(&self) -> Option<crate::UserId> {
        self.id().map(crate::UserId)
    }

    /// The associate's `FullName`, if present as a string.
    pub fn full_name(&self) -> Option<&str> {
        self.get_str("FullName")
    }
}

impl TimeZoneData {
    /// The `TZLocationCode` (read as an IANA zone name), if present
    /// as a string.
    pub fn location_code(&self) -> Option<&str> {
        self.get_str("TZLocationCode")
    }
}
