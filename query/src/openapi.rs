//! The OpenAPI document of the query routes, merged by the server with the
//! command routes' document into `/openapi.json`.

use crate::dto;
use crate::routes::{messages, rooms, search, users};
use crate::stream::route as stream;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Declares the `bearer` security scheme the routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cotalk query API", version = "1"),
    paths(
        users::me,
        users::user,
        users::find_user,
        users::friends,
        rooms::room,
        rooms::my_rooms,
        messages::messages,
        search::search,
        stream::stream,
    ),
    components(schemas(
        dto::MeResponse,
        dto::UserResponse,
        dto::FriendResponse,
        dto::FriendsResponse,
        dto::RoleResponse,
        dto::MemberResponse,
        dto::RoomResponse,
        dto::LastMessageResponse,
        dto::RoomSummaryResponse,
        dto::MyRoomsResponse,
        dto::MessageResponse,
        dto::MessagesResponse,
        dto::Problem,
        search::SearchHitResponse,
        search::SearchResponse,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "profiles"),
        (name = "friends", description = "friend lists"),
        (name = "rooms", description = "rooms and room lists"),
        (name = "messages", description = "message history"),
        (name = "search", description = "message search"),
        (name = "stream", description = "live frames over a WebSocket"),
    )
)]
struct QueryApi;

/// The OpenAPI document of every query route, with the answers every query
/// can give through the shared plumbing ([`api::openapi::complete`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = QueryApi::openapi();
    api::openapi::complete(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_every_query_route() {
        let doc = super::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        for path in [
            "/v1/me",
            "/v1/me/friends",
            "/v1/me/rooms",
            "/v1/users",
            "/v1/users/{user_id}",
            "/v1/rooms/{room_id}",
            "/v1/rooms/{room_id}/messages",
            "/v1/search/messages",
        ] {
            let op = &json["paths"][path]["get"];
            assert!(op.is_object(), "{path} missing");
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{path}");
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "X-Min-Position" && p["in"] == "header"),
                "{path}"
            );
        }
        let stream = &json["paths"]["/v1/stream"]["get"];
        assert_eq!(stream["security"][0]["bearer"], serde_json::json!([]));
        assert!(stream["responses"]["101"].is_object());
        assert!(stream["responses"]["403"].is_object(), "origin_not_allowed");
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
        assert!(json["components"]["schemas"]["MessagesResponse"].is_object());
    }
}
