//! [`Positioned`]: a command's answer with the log position of its last
//! event, which a client passes as `X-Min-Position` to read its own write.
//!
//! The position exists only once the command's events are committed, but the
//! answer to an `Idempotency-Key` is stored in that same transaction. So the
//! command side stores the serialized body (always a JSON object without a
//! `position` field) and the store adds `position` as it commits: the stored
//! answer is then exactly the serialization of `Positioned { body, position }`
//! (`#[serde(flatten)]`), which the tests below pin down.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ops::Deref;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Name of the field [`Positioned`] adds to its body.
pub const POSITION: &str = "position";

/// A body that is answered with a position. Its schema must be an object
/// without a `position` property.
pub trait PositionedBody: ToSchema {
    /// Name of the positioned answer's schema in the OpenAPI document
    /// (`RoomCreatedResponse` for a [`crate::commands::RoomCreated`]).
    const NAME: &'static str;
}

/// `body`'s fields and `position`, in one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positioned<T> {
    /// What the command answers besides the position.
    #[serde(flatten)]
    pub body: T,
    /// Log position of the command's last event (or the log's head, when a
    /// command appended nothing).
    pub position: i64,
}

impl<T> Positioned<T> {
    /// `body` at `position`.
    pub fn new(body: T, position: i64) -> Self {
        Self { body, position }
    }
}

impl<T> Deref for Positioned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.body
    }
}

impl<T: PositionedBody> PartialSchema for Positioned<T> {
    /// `T`'s object schema with a required `position` property (int64).
    fn schema() -> RefOr<Schema> {
        let mut schema = T::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let position = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)));
            object
                .properties
                .insert(POSITION.to_owned(), position.into());
            object.required.push(POSITION.to_owned());
        }
        schema
    }
}

impl<T: PositionedBody> ToSchema for Positioned<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(T::NAME)
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Empty, MessagePosted, Registered, RoomCreated};
    use domain::{MessageId, RoomId, UserId};
    use serde_json::Value;
    use uuid::Uuid;

    /// What the store keeps for an `Idempotency-Key`: the body as serialized
    /// by the command side, with `position` added.
    fn as_stored<T: Serialize>(body: &T, position: i64) -> Value {
        let mut value = serde_json::to_value(body).unwrap();
        let object = value.as_object_mut().expect("an object body");
        assert!(!object.contains_key(POSITION));
        object.insert(POSITION.into(), position.into());
        value
    }

    fn same_as_stored<T: Serialize + PositionedBody + Clone>(body: T) {
        let answered = serde_json::to_value(Positioned::new(body.clone(), 42)).unwrap();
        assert_eq!(answered, as_stored(&body, 42), "{}", T::NAME);
        let schema = serde_json::to_value(Positioned::<T>::schema()).unwrap();
        assert_eq!(schema["properties"][POSITION]["format"], "int64");
        assert!(schema["required"]
            .as_array()
            .unwrap()
            .contains(&POSITION.into()));
    }

    #[test]
    fn the_stored_answer_is_the_positioned_answer() {
        let id = Uuid::from_u128(7);
        same_as_stored(Empty {});
        same_as_stored(Registered {
            user_id: UserId(id),
        });
        same_as_stored(RoomCreated {
            room_id: RoomId(id),
        });
        same_as_stored(MessagePosted {
            message_id: MessageId(id),
            seq: 3,
        });
    }

    #[test]
    fn positioned_answers_read_back() {
        let json = r#"{"room_id":"00000000-0000-0000-0000-000000000007","position":9}"#;
        let back: Positioned<RoomCreated> = serde_json::from_str(json).unwrap();
        assert_eq!(back.room_id, RoomId(Uuid::from_u128(7)));
        assert_eq!(back.position, 9);
    }
}
