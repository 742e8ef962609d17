//! TableRight and FieldProperties as chatdesk's own carriers write them.
//! Inside raw summaries they stay raw (see `raw`).

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use super::flags::{FieldRightMask, TableRightMask};

carrier! {
    /// What the caller may do with a row, and why not more.
    #[derive(Eq)]
    TableRight {
        /// The rights granted.
        "Mask" => mask: TableRightMask,
        /// "" where granted, else a short sentence.
        "Reason" => reason: String,
    }
}

carrier! {
    /// What the caller may do with one field, and why not more.
    #[derive(Eq)]
    FieldRight {
        /// The rights granted.
        "Mask" => mask: FieldRightMask,
        /// "" where granted, else a short sentence.
        "Reason" => reason: String,
    }
}

carrier! {
    /// One field's right, type and maximum length.
    #[derive(Eq)]
    FieldProperty {
        /// The caller's right on the field.
        "FieldRight" => field_right: FieldRight,
        /// `System.Int32`, `System.String`, …, or a bare enum/summary type name.
        "FieldType" => field_type: String,
        /// The maximum length in characters, 0 where none.
        "FieldLength" => field_length: i32,
    }
}

/// Field name → [`FieldProperty`], in order; written as a JSON object in that
/// order. Any names are allowed; a name appears at most once.
///
/// The entries are shared (cloning is a reference-count bump): the service
/// builds the FieldProperties of each (rights, caller kind) once and hands
/// the same list to every carrier; changing one copies it first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldProperties(std::sync::Arc<Vec<(String, FieldProperty)>>);

impl FieldProperties {
    /// No entries (`{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the property of `name`: replaces it in place if present, else
    /// appends it. Returns the old property.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        prop: FieldProperty,
    ) -> Option<FieldProperty> {
        let name = name.into();
        let entries = std::sync::Arc::make_mut(&mut self.0);
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => Some(std::mem::replace(old, prop)),
            None => {
                entries.push((name, prop));
                None
            }
        }
    }

    /// The property of `name`.
    pub fn get(&self, name: &str) -> Option<&FieldProperty> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldProperty)> {
        self.0.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, FieldProperty)> for FieldProperties {
    /// Collects entries; a repeated name replaces the earlier one in place.
    fn from_iter<T: IntoIterator<Item = (S, FieldProperty)>>(iter: T) -> Self {
        let mut out = Self::new();
        for (n, p) in iter {
            out.insert(n, p);
        }
        out
    }
}

impl Serialize for FieldProperties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, prop) in self.0.iter() {
            map.serialize_entry(name, prop)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for FieldProperties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldPropertiesVisitor)
    }
}

struct FieldPropertiesVisitor;

impl<'de> Visitor<'de> for FieldPropertiesVisitor {
    type Value = FieldProperties;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping field names to FieldProperty objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<FieldProperties, A::Error> {
        let mut entries: Vec<(String, FieldProperty)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some((name, prop)) = access.next_entry::<String, FieldProperty>()? {
            if !seen.insert(name.clone()) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate FieldProperties key {name:?}"
                )));
            }
            entries.push((name, prop));
        }
        Ok(FieldProperties(std::sync::Arc::new(entries)))
    }
}
