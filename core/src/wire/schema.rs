//! Field lists of the carriers chatdesk keeps raw, as SuperOffice publishes
//! them, used to type-check the summaries it receives.

use serde_json::{Map, Value};

use super::datetime::WireDateTime;
use super::flags::{FieldRightMask, TableRightMask};

/// The JSON type SuperOffice gives a field.
///
/// Null is accepted where .NET has a reference type (string, date-time,
/// nested carrier, map, list) and refused where it has a value type
/// (int32, boolean, number, enum, mask).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FieldKind {
    /// A JSON integer within `i32`.
    Int32,
    /// A JSON string.
    String,
    /// A JSON boolean.
    Boolean,
    /// Any JSON number (f64).
    Number,
    /// A string that [`WireDateTime::parse`] accepts.
    DateTime,
    /// A string among these exact names.
    Enum(&'static [&'static str]),
    /// A nested carrier, checked by its own schema.
    Object(&'static Schema),
    /// A JSON object mapping any name to values of this kind.
    MapOf(&'static FieldKind),
    /// A JSON array of values of this kind.
    ListOf(&'static FieldKind),
    /// A string that parses as a [`TableRightMask`].
    TableRightMask,
    /// A string that parses as a [`FieldRightMask`].
    FieldRightMask,
}

/// A carrier's name and its fields in SuperOffice's order.
#[derive(Debug)]
pub struct Schema {
    name: &'static str,
    fields: &'static [(&'static str, FieldKind)],
}

/// A value in a raw summary that does not have its field's JSON type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: expected {expected}, found {found}")]
pub struct SchemaError {
    /// Where: the carrier name and the path of keys, e.g.
    /// `Contact.Address.Street.AtypeIdx`.
    pub path: String,
    /// The type the field must have.
    pub expected: String,
    /// A short description of the value found.
    pub found: String,
}

impl SchemaError {
    fn new(expected: impl Into<String>, found: &Value) -> Self {
        Self {
            path: String::new(),
            expected: expected.into(),
            found: describe(found),
        }
    }

    /// Puts `key` (a field or map key) in front of the path.
    fn under(mut self, key: &str) -> Self {
        self.path = if self.path.is_empty() || self.path.starts_with('[') {
            format!("{key}{}", self.path)
        } else {
            format!("{key}.{}", self.path)
        };
        self
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}…")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

impl Schema {
    /// The carrier's name as SuperOffice spells it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The fields and their kinds, in SuperOffice's order.
    pub fn fields(&self) -> &'static [(&'static str, FieldKind)] {
        self.fields
    }

    /// The field names, in SuperOffice's order.
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|&(n, _)| n)
    }

    /// The kind of the field with this exact name.
    pub fn kind_of(&self, field: &str) -> Option<FieldKind> {
        self.fields
            .iter()
            .find(|&&(n, _)| n == field)
            .map(|&(_, k)| k)
    }

    /// Checks the fields of `map` that the schema knows; other keys pass.
    ///
    /// # Errors
    /// [`SchemaError`] naming the first field, in `map`'s order, whose value
    /// has the wrong type; its path starts with this schema's name.
    pub fn check(&self, map: &Map<String, Value>) -> Result<(), SchemaError> {
        self.check_fields(map).map_err(|e| e.under(self.name))
    }

    fn check_fields(&self, map: &Map<String, Value>) -> Result<(), SchemaError> {
        for (key, value) in map {
            if let Some(kind) = self.kind_of(key) {
                check_value(kind, value).map_err(|e| e.under(key))?;
            }
        }
        Ok(())
    }
}

fn check_value(kind: FieldKind, v: &Value) -> Result<(), SchemaError> {
    let ok = match (kind, v) {
        (FieldKind::Int32, Value::Number(n)) => {
            n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
        }
        (FieldKind::Int32, _) => false,
        (FieldKind::Boolean, v) => v.is_boolean(),
        (FieldKind::Number, v) => v.is_number(),
        (FieldKind::String, v) => v.is_string() || v.is_null(),
        (FieldKind::DateTime, Value::Null) => true,
        (FieldKind::DateTime, Value::String(s)) => WireDateTime::parse(s).is_ok(),
        (FieldKind::DateTime, _) => false,
        (FieldKind::Enum(names), Value::String(s)) => names.contains(&s.as_str()),
        (FieldKind::Enum(_), _) => false,
        (FieldKind::TableRightMask, Value::String(s)) => s.parse::<TableRightMask>().is_ok(),
        (FieldKind::FieldRightMask, Value::String(s)) => s.parse::<FieldRightMask>().is_ok(),
        (FieldKind::TableRightMask | FieldKind::FieldRightMask, _) => false,
        (FieldKind::Object(_) | FieldKind::MapOf(_) | FieldKind::ListOf(_), Value::Null) => true,
        (FieldKind::Object(schema), Value::Object(m)) => return schema.check_fields(m),
        (FieldKind::MapOf(inner), Value::Object(m)) => {
            for (key, item) in m {
                check_value(*inner, item).map_err(|e| e.under(key))?;
            }
            return Ok(());
        }
        (FieldKind::ListOf(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(*inner, item).map_err(|e| e.under(&format!("[{i}]")))?;
            }
            return Ok(());
        }
        (FieldKind::Object(_) | FieldKind::MapOf(_) | FieldKind::ListOf(_), _) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(SchemaError::new(expected(kind), v))
    }
}

fn expected(kind: FieldKind) -> String {
    match kind {
        FieldKind::Int32 => "int32".to_owned(),
        FieldKind::String => "string".to_owned(),
        FieldKind::Boolean => "boolean".to_owned(),
        FieldKind::Number => "number".to_owned(),
        FieldKind::DateTime => "date-time string".to_owned(),
        FieldKind::Enum(names) => format!("one of {}", names.join(", ")),
        FieldKind::Object(s) => format!("{} object", s.name),
        FieldKind::MapOf(_) => "object".to_owned(),
        FieldKind::ListOf(_) => "array".to_owned(),
        FieldKind::TableRightMask => "TableRight mask names".to_owned(),
        FieldKind::FieldRightMask => "FieldRight mask names".to_owned(),
    }
}

// Short names keep the tables below one field per line and readable.
const I: FieldKind = FieldKind::Int32;
const S: FieldKind = FieldKind::String;
const B: FieldKind = FieldKind::Boolean;
const N: FieldKind = FieldKind::Number;
const D: FieldKind = FieldKind::DateTime;
const TR: FieldKind = FieldKind::Object(&TABLE_RIGHT);
const FP: FieldKind = FieldKind::MapOf(&FieldKind::Object(&FIELD_PROPERTY));
const STRING_MAP: FieldKind = FieldKind::MapOf(&FieldKind::String);

macro_rules! schemas {
    ($($(#[$m:meta])* $konst:ident = $name:literal { $($field:literal: $kind:expr),+ $(,)? })+) => {$(
        $(#[$m])*
        #[doc = concat!("SuperOffice's `", $name, "` carrier.")]
        pub static $konst: Schema = Schema {
            name: $name,
            fields: &[$(($field, $kind)),+],
        };
    )+};
}

schemas! {
    TABLE_RIGHT = "TableRight" { "Mask": FieldKind::TableRightMask, "Reason": S }
    FIELD_RIGHT = "FieldRight" { "Mask": FieldKind::FieldRightMask, "Reason": S }
    FIELD_PROPERTY = "FieldProperty" {
        "FieldRight": FieldKind::Object(&FIELD_RIGHT),
        "FieldType": S,
        "FieldLength": I,
    }
    CUSTOMER_LANGUAGE = "CustomerLanguage" {
        "Id": I, "Value": S, "Tooltip": S, "TableRight": TR, "FieldProperties": FP,
    }
    TICKET_CATEGORY = "TicketCategory" {
        "Id": I, "Value": S, "Tooltip": S, "TableRight": TR, "FieldProperties": FP,
    }
    TICKET_PRIORITY = "TicketPriority" {
        "Id": I, "Value": S, "Tooltip": S, "TableRight": TR, "FieldProperties": FP,
    }
    KB_CATEGORY = "KbCategory" {
        "KbCategoryId": I, "Name": S, "Description": S, "Fullname": S, "ParentId": I,
        "SortOrder": I,
    }
    REPLY_TEMPLATE = "ReplyTemplate" {
        "ReplyTemplateId": I, "Name": S, "Description": S, "FolderId": I,
    }
    TIME_ZONE_RULE = "TimeZoneRule" {
        "StartDay": I, "StartMonth": I, "EndDay": I, "EndMonth": I, "TZOffset": I,
        "StartRulePattern": S, "EndRulePattern": S,
    }
    TIME_ZONE_DATA = "TimeZoneData" {
        "TZLocationID": I, "Name": S, "TZLocationCode": S, "TZLocationCities": S,
        "IsoNumber": I,
        "TimeZoneSTDRules": FieldKind::MapOf(&FieldKind::Object(&TIME_ZONE_RULE)),
        "TimeZoneDSTRules": FieldKind::MapOf(&FieldKind::Object(&TIME_ZONE_RULE)),
    }
    ASSOCIATE = "Associate" {
        "AssociateId": I, "Name": S, "PersonId": I, "Rank": I, "Tooltip": S,
        "Type": FieldKind::Enum(&[
            "Unknown", "InternalAssociate", "ResourceAssociate", "ExternalAssociate",
            "AnonymousAssociate", "SystemAssociate",
        ]),
        "GroupIdx": I, "FullName": S, "FormalName": S, "Deleted": B, "EjUserId": I,
        "UserName": S, "ExtraFields": STRING_MAP, "CustomFields": STRING_MAP,
        "TableRight": TR, "FieldProperties": FP,
    }
    PERSON = "Person" {
        "Position": S, "PersonId": I, "Mrmrs": S, "Firstname": S, "Lastname": S,
        "MiddleName": S, "Title": S, "Description": S, "Email": S, "FullName": S,
        "DirectPhone": S, "FormalName": S, "CountryId": I, "ContactId": I,
        "ContactName": S, "Retired": I, "Rank": I, "ActiveInterests": I,
        "ContactDepartment": S, "ContactCountryId": I, "ContactOrgNr": S, "FaxPhone": S,
        "MobilePhone": S, "ContactPhone": S, "AssociateName": S, "AssociateId": I,
        "UsePersonAddress": B, "ContactFax": S, "Kanafname": S, "Kanalname": S,
        "Post1": S, "Post2": S, "Post3": S, "EmailName": S, "ContactFullName": S,
        "ActiveErpLinks": I, "TicketPriorityId": I, "SupportLanguageId": I,
        "SupportAssociateId": I, "CategoryName": S, "PersonNumber": S,
        "TableRight": TR, "FieldProperties": FP,
    }
    STRUCTURED_ADDRESS = "StructuredAddress" {
        "AtypeIdx": FieldKind::Enum(&[
            "Unknown", "ContactPostalAddress", "ContactStreetAddress",
            "PersonPrivateAddress", "QuoteBillingAddress", "QuoteShippingAddress",
        ]),
        "Address1": S, "Address2": S, "Address3": S, "City": S, "County": S, "State": S,
        "Zipcode": S, "Formatted": S,
    }
    LOCALIZED_FIELD = "LocalizedField" {
        "Name": S, "Value": S, "Tooltip": S, "Label": S, "ValueLength": I,
        "AddressType": S, "TableRight": TR, "FieldProperties": FP,
    }
    ADDRESS = "Address" {
        "Wgs84Latitude": N, "Wgs84Longitude": N,
        "LocalizedAddress": FieldKind::ListOf(&FieldKind::ListOf(
            &FieldKind::Object(&LOCALIZED_FIELD),
        )),
        "Street": FieldKind::Object(&STRUCTURED_ADDRESS),
        "Postal": FieldKind::Object(&STRUCTURED_ADDRESS),
        "Formatted": S, "TableRight": TR, "FieldProperties": FP,
    }
    CONTACT = "Contact" {
        "ContactId": I, "Name": S, "OrgNr": S, "Department": S, "URL": S, "City": S,
        "DirectPhone": S, "AssociateId": I, "CountryId": I, "EmailAddress": S,
        "Kananame": S, "EmailAddressName": S, "URLName": S, "AssociateFullName": S,
        "BusinessName": S, "CategoryName": S, "CountryName": S,
        "Address": FieldKind::Object(&ADDRESS),
        "FormattedAddress": S, "FullName": S, "IsOwnerContact": B, "ActiveErpLinks": I,
        "Number1": S, "Number2": S, "TableRight": TR, "FieldProperties": FP,
    }
    PROJECT = "Project" {
        "ProjectId": I, "Name": S, "Description": S, "URL": S, "Type": S,
        "AssociateId": I, "AssociateFullName": S, "TypeId": I, "Updated": D,
        "StatusId": I, "Status": S, "TextId": I, "PublishTo": D, "PublishFrom": D,
        "IsPublished": B, "URLName": S, "ProjectNumber": S, "ActiveErpLinks": I,
        "EventId": I, "StartDate": D, "TableRight": TR, "FieldProperties": FP,
    }
    SALE = "Sale" {
        "ContactName": S, "SaleDate": D, "SaleId": I, "Probability": I, "Title": S,
        "Amount": N, "Currency": S, "ProjectName": S, "AssociateFullName": S,
        "Description": S,
        "Status": FieldKind::Enum(&["Unknown", "Open", "Sold", "Lost", "Stalled", "SaintAll"]),
        "WeightedAmount": N, "ProjectId": I, "EarningPercent": N, "Earning": N,
        "ContactId": I, "AssociateId": I, "PersonId": I, "SaleTypeId": I,
        "SaleTypeName": S, "PersonFullName": S,
        "Completed": FieldKind::Enum(&["Unknown", "NotStarted", "Started", "Completed"]),
        "ActiveErpLinks": I, "NextDueDate": D, "Number": S,
        "TableRight": TR, "FieldProperties": FP,
    }
    TICKET = "Ticket" {
        "TicketId": I, "Title": S, "CreatedAt": D, "LastChanged": D, "ReadByOwner": D,
        "ReadByCustomer": D, "FirstReadByUser": D, "Activate": D, "ClosedAt": D,
        "RepliedAt": D, "AlertTimeout": D, "Deadline": D, "CreatedBy": I,
        "CreatedByName": S, "Author": S, "OwnedBy": I, "OwnedByName": S, "Category": I,
        "CategoryName": S, "CategoryFullname": S,
        "Slevel": FieldKind::Enum(&["Unknown", "Internal", "External"]),
        "Priority": I, "PriorityName": S,
        "BaseStatus": FieldKind::Enum(&[
            "Unknown", "Active", "Closed", "Postponed", "Deleted", "Merged", "Spam",
            "PostponedSpecific", "Postponed1Hour", "Postponed2Hours", "Postponed3Hours",
            "Postponed4Hours", "PostponedDay", "PostponedWeek", "PostponedMonth",
        ]),
        "TicketStatus": I, "TicketStatusDisplayValue": S,
        "Origin": FieldKind::Enum(&[
            "Unknown", "Email", "SMS", "Fax", "Phone", "Facebook", "Twitter", "Internal",
            "CustomerCentre", "EMarketing", "AutoGenerated", "Chat", "Form", "API", "Flow",
        ]),
        "CustId": I, "PersonFirstname": S, "PersonMiddleName": S, "PersonLastname": S,
        "PersonFullname": S, "AlertLevel": I, "ConnectId": I,
        "ReadStatus": FieldKind::Enum(&["Unknown", "Green", "Yellow", "Red"]),
        "TimeToReply": I, "RealTimeToReply": I, "TimeToClose": I, "RealTimeToClose": I,
        "TimeSpentInternally": I, "TimeSpentExternally": I, "TimeSpentQueue": I,
        "RealTimeSpentInternally": I, "RealTimeSpentExternally": I,
        "RealTimeSpentQueue": I, "TimeSpent": I, "HasAttachment": B, "NumReplies": I,
        "NumMessages": I, "FromAddress": S, "ContactId": I, "ContactName": S,
        "OwnedByAssociateId": I, "Language": S, "Sentiment": I,
        "SentimentConfidence": I, "SaleId": I, "ProjectId": I, "SaleHeading": S,
        "ProjectName": S, "FormSubmissionId": I, "TicketTypeId": I,
        "TicketTypeName": S, "TableRight": TR, "FieldProperties": FP,
    }
}
