//! Stored-event fixtures: one JSON file per event type and schema version in
//! `tests/fixtures/{event_type}.v{version}.json` (`event_type`,
//! `schema_version`, `payload`, as the event log stores them). Every entry of
//! [`EVENT_TYPES`] must have a fixture at every version from 1 to its current
//! one, and each must decode through [`DomainEvent::decode`] (older versions
//! through the upcasters) to the same event as [`DomainEvent::decode_json`].
//! A version bump without a fixture for the old shape fails here.
//! Fixtures in `tests/fixtures/newer/` carry versions newer than the code
//! knows and must be refused.

use domain::event::EVENT_TYPES;
use domain::{DecodeError, DomainEvent};
use proptest::prelude::*;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    event_type: String,
    schema_version: u16,
    payload: serde_json::Value,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("missing fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad fixture {}: {e}", path.display()))
}

#[test]
fn every_event_type_decodes_at_every_version() {
    let mut checked = 0;
    for (event_type, current) in EVENT_TYPES {
        for version in 1..=*current {
            let path = dir().join(format!("{event_type}.v{version}.json"));
            let f = read(&path);
            assert_eq!(f.event_type, *event_type, "{}", path.display());
            assert_eq!(f.schema_version, version, "{}", path.display());
            let e = DomainEvent::decode(event_type, version, f.payload.clone())
                .unwrap_or_else(|err| panic!("{event_type} v{version}: {err}"));
            assert_eq!(e.event_type(), *event_type);
            // Decoded events are always of the current version.
            assert_eq!(e.schema_version(), *current);
            let fast = DomainEvent::decode_json(event_type, version, &f.payload.to_string())
                .unwrap_or_else(|err| panic!("{event_type} v{version} (json): {err}"));
            assert_eq!(fast, e, "{event_type} v{version}");
            // Re-encoding gives a current-version payload that decodes to the same event.
            let again = DomainEvent::decode(event_type, *current, e.payload()).unwrap();
            assert_eq!(again, e);
            // Serialised in place, the payload is the same JSON.
            let in_place = serde_json::to_value(e.payload_ref()).unwrap();
            assert_eq!(in_place, e.payload(), "{event_type} v{version}");
            checked += 1;
        }
    }
    assert!(checked > EVENT_TYPES.len(), "some type has an old version");
}

#[test]
fn no_fixture_names_an_unknown_type_or_version() {
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let f = read(&path);
        let known = EVENT_TYPES
            .iter()
            .any(|(t, v)| *t == f.event_type && (1..=*v).contains(&f.schema_version));
        assert!(known, "stale fixture {}", path.display());
    }
}

#[test]
fn member_left_v1_reads_as_no_new_owner() {
    let f = read(&dir().join("room.member_left.v1.json"));
    let e = DomainEvent::decode(&f.event_type, 1, f.payload).unwrap();
    assert_eq!(e.payload()["new_owner"], serde_json::Value::Null);
}

#[test]
fn message_posted_v1_reads_as_no_attachments_and_no_mentions() {
    let f = read(&dir().join("room.message_posted.v1.json"));
    let e = DomainEvent::decode(&f.event_type, 1, f.payload).unwrap();
    assert_eq!(e.payload()["attachments"], serde_json::json!([]));
    assert_eq!(e.payload()["mentions"], serde_json::json!([]));
}

#[test]
fn newer_versions_are_refused() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir().join("newer")).unwrap() {
        let f = read(&entry.unwrap().path());
        let current = EVENT_TYPES
            .iter()
            .find(|(t, _)| *t == f.event_type)
            .map(|(_, v)| *v)
            .unwrap();
        assert!(f.schema_version > current);
        for result in [
            DomainEvent::decode(&f.event_type, f.schema_version, f.payload.clone()),
            DomainEvent::decode_json(&f.event_type, f.schema_version, &f.payload.to_string()),
        ] {
            assert!(
                matches!(result, Err(DecodeError::UnknownVersion { .. })),
                "{} v{}: {result:?}",
                f.event_type,
                f.schema_version
            );
        }
        seen += 1;
    }
    assert!(seen > 0);
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("room_id".to_owned()),
                    Just("user_id".to_owned()),
                    Just("at".to_owned()),
                    Just("new_owner".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Fuzz smoke (an ordinary test; `cargo fuzz` needs a nightly toolchain):
    /// decoding arbitrary payloads under every type and version never panics,
    /// and the two decoders agree on success.
    #[test]
    fn decode_never_panics(type_index in 0..EVENT_TYPES.len() + 1, version in 0u16..4, payload in json()) {
        let event_type = EVENT_TYPES.get(type_index).map_or("room.unknown", |(t, _)| *t);
        let slow = DomainEvent::decode(event_type, version, payload.clone());
        let fast = DomainEvent::decode_json(event_type, version, &payload.to_string());
        prop_assert_eq!(slow.is_ok(), fast.is_ok());
        if let (Ok(a), Ok(b)) = (slow, fast) {
            prop_assert_eq!(a, b);
        }
    }
}

/// A registration stored with a name the rules now reserve (and an old
/// display name that would not parse today) still decodes: the rules apply
/// to new registrations, never to the log.
#[test]
fn registrations_that_the_rules_now_refuse_still_decode() {
    let payload = serde_json::json!({
        "user_id": "0190f1a2-0000-7000-8000-000000000009",
        "username": "admin",
        "display_name": "\u{200B}",
        "at": "2026-11-01T09:30:00Z"
    });
    for (event_type, payload) in [
        ("user.registered", payload.clone()),
        (
            "username.claimed",
            serde_json::json!({"username": "admin", "user_id": payload["user_id"], "at": payload["at"]}),
        ),
    ] {
        let e = DomainEvent::decode(event_type, 1, payload.clone())
            .unwrap_or_else(|err| panic!("{event_type}: {err}"));
        assert_eq!(e.payload()["username"], "admin");
    }
}

#[test]
fn member_added_v1_reads_as_no_invite() {
    let f = read(&dir().join("room.member_added.v1.json"));
    let e = DomainEvent::decode(&f.event_type, 1, f.payload).unwrap();
    assert_eq!(e.payload()["via_invite"], serde_json::Value::Null);
}
