//! The query routes and their OpenAPI document, merged by the server with
//! the command routes' document into `/openapi.json`. Each route is declared
//! once ([`utoipa_axum`]): `routes!` mounts the handler under the method and
//! path of its `#[utoipa::path]` and documents it, with the answer type the
//! handler returns.

use crate::routes::{
    attachments, calendar, meetups, messages, notifications, people, rooms, search, users,
};
use crate::state::QueryState;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The query document's frame: title, security scheme and tags (the
/// operations come from [`table`] and [`crate::stream::table`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "cotalk query API", version = "1"),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "profiles"),
        (name = "friends", description = "friend lists"),
        (name = "rooms", description = "rooms and room lists"),
        (name = "messages", description = "message history"),
        (name = "search", description = "message search"),
        (name = "meetups", description = "meet-ups and the calendar feed"),
        (name = "stream", description = "live frames over a WebSocket"),
    )
)]
struct QueryApi;

/// The query routes (without the stream, which has its own state), with
/// the search route only when `search` (a process without an index does not
/// mount it; the document always has it).
pub(crate) fn table(search: bool) -> OpenApiRouter<QueryState> {
    let router = OpenApiRouter::with_openapi(QueryApi::openapi())
        .routes(routes!(users::me))
        .routes(routes!(users::friends))
        .routes(routes!(rooms::my_rooms))
        .routes(routes!(users::find_user))
        .routes(routes!(users::user))
        .routes(routes!(rooms::room))
        .routes(routes!(messages::messages))
        // people (issue 16)
        .routes(routes!(people::invites))
        .routes(routes!(people::invite_preview))
        .routes(routes!(people::blocks))
        .routes(routes!(people::search_users))
        // meet-ups (issue 17)
        .routes(routes!(meetups::meetup))
        .routes(routes!(meetups::my_meetups))
        .routes(routes!(calendar::feed))
        // notifications (issue 16)
        .routes(routes!(notifications::my_notifications));
    if search {
        router.routes(routes!(search::search))
    } else {
        router
    }
}

/// The download route, with its own state (the object store).
pub(crate) fn download_table() -> OpenApiRouter<attachments::DownloadState> {
    OpenApiRouter::new().routes(routes!(attachments::download))
}

/// The OpenAPI document of every query route and the stream, with the
/// answers every query can give through the shared plumbing
/// ([`api::openapi::complete`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = table(true).into_openapi();
    doc.merge(crate::stream::table().into_openapi());
    doc.merge(download_table().into_openapi());
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
            "/v1/me/notifications",
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
        let typing = &json["paths"]["/v1/rooms/{room_id}/typing"]["post"];
        assert!(typing["responses"]["204"].is_object(), "typing (issue 16)");
        assert!(typing["responses"]["404"].is_object());
        let friend = &json["components"]["schemas"]["FriendResponse"]["properties"];
        assert!(friend["presence"].is_object() && friend["last_seen_at"].is_object());
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
        assert!(json["components"]["schemas"]["MessagesResponse"].is_object());
    }
}
