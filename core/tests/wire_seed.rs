//! The seed sample round trip, summaries kept as received, and bad input
//! refused with an error (never a panic).

use chatdesk::{
    Associate, ChatMessage, ChatPresence, ChatSessionEntity, ChatSessionFlags, ChatSessionStatus,
    ChatTopicAgent, ChatTopicEntity, FieldProperties, FieldRightMask, Person, TableRightMask,
    TimeZoneData, WireDateTime,
};
use serde_json::{Value, json};

const SEED: &str = include_str!("data/seed-sample.json");

fn seed_value() -> Value {
    serde_json::from_str(SEED).unwrap()
}

/// The seed with `"Rating": 0` inserted after `ChatbotIsActive`.
fn seed_with_rating() -> Value {
    let Value::Object(seed) = seed_value() else {
        panic!("seed is not an object")
    };
    let mut out = serde_json::Map::new();
    for (k, v) in seed {
        let after = k == "ChatbotIsActive";
        out.insert(k, v);
        if after {
            out.insert("Rating".to_owned(), json!(0));
        }
    }
    Value::Object(out)
}

/// Keys of every object, recursively, in order (a path per key).
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{prefix}/{k}");
                out.push(p.clone());
                key_paths(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                key_paths(v, &format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn seed_round_trips_with_rating_added() {
    let session: ChatSessionEntity = serde_json::from_str(SEED).unwrap();
    assert_eq!(session.status, ChatSessionStatus::Closed);
    assert_eq!(session.table_right.mask, TableRightMask::DELETE);
    assert_eq!(session.flags, ChatSessionFlags::CustomerIsTyping);
    assert_eq!(session.rating, 0);
    let fp = session.field_properties.get("fieldName").unwrap();
    assert_eq!(fp.field_right.mask, FieldRightMask::FULL);
    assert_eq!(fp.field_length, 158);

    let text = serde_json::to_string(&session).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    let expected = seed_with_rating();
    assert_eq!(back, expected);

    // Order too, at every level (serde_json keeps order: preserve_order).
    let (mut got, mut want) = (Vec::new(), Vec::new());
    key_paths(&back, "", &mut got);
    key_paths(&expected, "", &mut want);
    assert_eq!(got, want);
}

#[test]
fn seed_date_times_round_trip_byte_exact() {
    let mut strings = Vec::new();
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.len() > 20 && s.as_bytes().get(10) == Some(&b'T') => {
                out.push(s.clone())
            }
            Value::Object(m) => m.values().for_each(|v| collect(v, out)),
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&seed_value(), &mut strings);
    assert_eq!(strings.len(), 20, "{strings:?}");
    for s in strings {
        let d = WireDateTime::parse(&s).unwrap();
        assert_eq!(d.to_wire().unwrap(), s);
    }
}

#[test]
fn summaries_are_kept_as_received() {
    let input = json!({
        "User": {"Zeta": 1, "AssociateId": 7, "Extra": {"deep": [1, 2]}, "TableRight": {}},
        "Person": {},
    });
    let s: ChatSessionEntity = serde_json::from_value(input).unwrap();
    let user = s.user.as_ref().unwrap();
    assert_eq!(user.id(), Some(7));
    assert_eq!(
        user.as_map().keys().collect::<Vec<_>>(),
        ["Zeta", "AssociateId", "Extra", "TableRight"]
    );
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(
        out["User"],
        json!({"Zeta": 1, "AssociateId": 7, "Extra": {"deep": [1, 2]}, "TableRight": {}})
    );
    assert_eq!(out["Person"], json!({}));
    assert_eq!(out["Contact"], Value::Null);
    assert_eq!(s.person.as_ref().unwrap().id(), None);
}

#[test]
fn summary_helpers() {
    assert_eq!(
        serde_json::to_value(Person::with_id(5)).unwrap(),
        json!({"PersonId": 5})
    );
    let a: Associate =
        serde_json::from_value(json!({"AssociateId": 3, "FullName": "Anna"})).unwrap();
    assert_eq!(a.full_name(), Some("Anna"));
    assert_eq!(a.id(), Some(3));
    let tz: TimeZoneData = serde_json::from_value(json!({
        "TZLocationID": 9,
        "TZLocationCode": "Europe/Oslo",
        "TimeZoneSTDRules": {"a": {"StartDay": 1, "StartRulePattern": "x"}},
        "TimeZoneDSTRules": {},
    }))
    .unwrap();
    assert_eq!(tz.location_code(), Some("Europe/Oslo"));
    assert_eq!(tz.id(), Some(9));
    assert_eq!(TimeZoneData::with_id(4).id(), Some(4));
}

#[test]
fn missing_fields_take_defaults_and_unknown_keys_are_ignored() {
    let s: ChatSessionEntity =
        serde_json::from_str(r#"{"TopicId": 3, "SomethingNew": [1]}"#).unwrap();
    assert_eq!(s.topic_id, 3);
    assert_eq!(s.when_requested, WireDateTime::Unset);
    assert_eq!(s.table_right.mask, TableRightMask::NONE);
    assert_eq!(s.table_right.reason, "");
    let t: ChatTopicEntity =
        serde_json::from_str(r#"{"Widget": {"RequiredFields": "name, EMAIL"}}"#).unwrap();
    assert_eq!(t.widget.required_fields.bits(), 3);
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["Widget"]["RequiredFields"], "Email, Name");
    assert_eq!(v["Widget"]["Size"], "Normal");
    assert_eq!(v["Language"], Value::Null);
    assert_eq!(v["LastAccept"], "0001-01-01T00:00:00");
}

#[test]
fn flags_are_written_and_ignored_on_input() {
    let mut s = ChatSessionEntity {
        flags: ChatSessionFlags::UserIsTyping,
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(&s).unwrap()["Flags"], "UserIsTyping");
    for ok in [
        r#""UserIsTyping""#,
        r#""CustomerIsTyping, UserIsTyping""#,
        r#""usERistyping""#,
    ] {
        s = serde_json::from_str(&format!(r#"{{"Flags": {ok}}}"#)).unwrap();
        assert_eq!(s.flags, ChatSessionFlags::CustomerIsTyping, "{ok}");
    }
}

#[test]
fn field_properties_keep_order_and_refuse_duplicates() {
    let fp: FieldProperties =
        serde_json::from_str(r#"{"b": {"FieldRight": {"Mask": "Read, Nullable"}}, "a": {}}"#)
            .unwrap();
    assert_eq!(fp.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(
        serde_json::to_value(&fp).unwrap(),
        json!({
            "b": {"FieldRight": {"Mask": "Read, Nullable", "Reason": ""}, "FieldType": "", "FieldLength": 0},
            "a": {"FieldRight": {"Mask": "None", "Reason": ""}, "FieldType": "", "FieldLength": 0},
        })
    );
    assert!(serde_json::from_str::<FieldProperties>(r#"{"a": {}, "a": {}}"#).is_err());
}

/// Each input must fail to deserialize as `T` (and must not panic).
fn refused<T: serde::de::DeserializeOwned + std::fmt::Debug>(inputs: &[&str]) {
    for input in inputs {
        let r = serde_json::from_str::<T>(input);
        assert!(r.is_err(), "{input} gave {r:?}");
    }
}

#[test]
fn bad_session_input_is_refused() {
    refused::<ChatSessionEntity>(&[
        r#"{"TopicId": "x"}"#,
        r#"{"TopicId": 2147483648}"#,
        r#"{"TopicId": 1.5}"#,
        r#"{"TopicId": null}"#,
        r#"{"CustomerName": 5}"#,
        r#"{"CustomerConsented": "true"}"#,
        r#"{"Status": "closed"}"#,
        r#"{"Status": "Nope"}"#,
        r#"{"Status": 9}"#,
        r#"{"Flags": "Typing"}"#,
        r#"{"Flags": ""}"#,
        r#"{"WhenRequested": "yesterday"}"#,
        r#"{"WhenRequested": "2001-02-30T00:00:00Z"}"#,
        r#"{"WhenRequested": 5}"#,
        r#"{"TableRight": {"Mask": "Selekt"}}"#,
        r#"{"TableRight": {"Mask": "1"}}"#,
        r#"{"TableRight": {"Mask": ""}}"#,
        r#"{"TableRight": {"Reason": 1}}"#,
        r#"{"FieldProperties": {"x": {"FieldRight": {"Mask": "Delete"}}}}"#,
        r#"{"FieldProperties": {"x": {"FieldLength": "1"}}}"#,
        r#"{"FieldProperties": []}"#,
        r#"{"User": {"AssociateId": "x"}}"#,
        r#"{"User": {"Type": "Robot"}}"#,
        r#"{"User": {"ExtraFields": {"a": 1}}}"#,
        r#"{"User": {"TableRight": {"Mask": "Bogus"}}}"#,
        r#"{"User": {"FieldProperties": {"f": {"FieldRight": {"Mask": "Select"}}}}}"#,
        r#"{"User": []}"#,
        r#"{"Person": {"UsePersonAddress": 3}}"#,
        r#"{"Contact": {"Address": {"Street": {"AtypeIdx": "Moon"}}}}"#,
        r#"{"Contact": {"Address": {"LocalizedAddress": [[{"ValueLength": "x"}]]}}}"#,
        r#"{"Contact": {"Address": {"Wgs84Latitude": "59.9"}}}"#,
        r#"{"Project": {"Updated": "not a date"}}"#,
        r#"{"Sale": {"Amount": "1"}}"#,
        r#"{"Sale": {"Status": "Won"}}"#,
        r#"{"Ticket": {"Origin": "Pigeon"}}"#,
        r#"{"TransferTo": {"Deleted": 0}}"#,
        "[]",
        "[0, 1]",
        r#"{"TableRight": ["Delete", ""]}"#,
        r#"{"FieldProperties": {"x": [{"Mask": "Read"}, "t", 1]}}"#,
        "null",
        "",
        "{",
    ]);
}

#[test]
fn schema_errors_name_the_field() {
    let e = serde_json::from_str::<ChatSessionEntity>(
        r#"{"Contact": {"Address": {"Street": {"AtypeIdx": "Moon"}}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Contact.Address.Street.AtypeIdx"), "{e}");
    let e = serde_json::from_str::<ChatSessionEntity>(r#"{"Person": {"UsePersonAddress": 3}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Person.UsePersonAddress"), "{e}");
}

#[test]
fn bad_other_carriers_are_refused() {
    refused::<ChatMessage>(&[
        r#"{"Type": "toUser"}"#,
        r#"{"SpecialType": "Four"}"#,
        r#"{"ReadByCustomer": true}"#,
        r#"{"WhenPosted": "2001-09-08T18:25:50+25:00"}"#,
    ]);
    refused::<ChatTopicEntity>(&[
        r#"{"Widget": {"RequiredFields": "Email, Fax"}}"#,
        r#"{"Widget": {"RequiredFields": 3}}"#,
        r#"{"Widget": {"Size": "large"}}"#,
        r#"{"Widget": {"AutoFaqCategory": {"KbCategoryId": "1"}}}"#,
        r#"{"OpeningHours": {"TzLocation": {"TimeZoneSTDRules": {"x": {"TZOffset": "1"}}}}}"#,
        r#"{"OpeningHours": {"MonEnabled": 1}}"#,
        r#"{"Language": {"Id": "no"}}"#,
        r#"{"AlertTemplate": {"FolderId": []}}"#,
        r#"{"TicketCategory": {"Value": 1}}"#,
        r#"{"TicketPriority": {"Tooltip": false}}"#,
        r#"{"BotSettings": {"BotName": null}}"#,
        r#"{"LastAccept": "0001-01-01"}"#,
    ]);
    refused::<ChatTopicAgent>(&[r#"{"TopicId": "x"}"#, r#"{"User": {"AssociateId": "x"}}"#]);
    refused::<ChatPresence>(&[r#"{"ChatTopics": ["1"]}"#, r#"{"ChatTopics": 1}"#]);
}

#[test]
fn nulls_in_summaries_follow_dotnet_reference_types() {
    // Reference types (string, date-time, objects, lists) may be null ...
    let ok = r#"{"Contact": {"Name": null, "Address": null}, "Project": {"Updated": null}}"#;
    let s: ChatSessionEntity = serde_json::from_str(ok).unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap()["Contact"],
        json!({"Name": null, "Address": null})
    );
    // ... value types may not.
    refused::<ChatSessionEntity>(&[
        r#"{"Contact": {"ContactId": null}}"#,
        r#"{"Contact": {"IsOwnerContact": null}}"#,
    ]);
}
