//! The answers every route can give through the shared plumbing of this
//! crate, added to an OpenAPI document so that each operation documents all
//! the status codes it can really answer (schema-driven fuzzing checks that),
//! not only the ones its handler names:
//!
//! - every operation: 400 `invalid_request` (a malformed header, query string
//!   or body);
//! - operations with a bearer security requirement: 401 `unauthenticated`;
//! - commands (every method but GET): the `Idempotency-Key` header, 413
//!   `payload_too_large`, 408 `request_timeout` and 415
//!   `unsupported_media_type` (those with a body), 422
//!   `idempotency_key_reused`, 503 `dependency_unavailable`;
//! - queries taking `X-Min-Position`: 503 `projection_lagging` and
//!   `dependency_unavailable`.
//!
//! Every error answer gets the `application/problem+json` `Problem` body and
//! every 429 and 503 the `Retry-After` header. Routes that are rate limited
//! name their 429 themselves (only they know); this fills in its body and header.

use http::Method;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{
    Content, Header, HeaderBuilder, OpenApi, Ref, RefOr, Required, ResponsesBuilder,
};
use utoipa::PartialSchema;

/// Name of the problem+json schema in `components.schemas`.
pub const PROBLEM_SCHEMA: &str = "Problem";

const PROBLEM_JSON: &str = "application/problem+json";

/// Add the shared answers (see the module documentation) to every operation
/// of `doc`, and the `Problem` schema if `doc` does not define it yet.
pub fn complete(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let methods = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (op, command) in methods {
            if let Some(op) = op.as_mut() {
                complete_operation(op, command);
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry(PROBLEM_SCHEMA.to_owned())
        .or_insert_with(contract::Problem::schema);
}

fn complete_operation(op: &mut Operation, command: bool) {
    add(
        op,
        400,
        "invalid_request: a malformed header, query string or body",
    );
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add(op, 401, "unauthenticated: no valid bearer token");
    }
    let has_param = |op: &Operation, name: &str| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| p.name.eq_ignore_ascii_case(name))
    };
    if command {
        if !has_param(op, "Idempotency-Key") {
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(idempotency_key());
        }
        add(op, 413, "payload_too_large: the body is over 64 KiB");
        if op.request_body.is_some() {
            add(
                op,
                408,
                "request_timeout: the body did not arrive within the body-read timeout",
            );
            add(op, 415, "unsupported_media_type: the body is not JSON");
        }
        add(
            op,
            422,
            "idempotency_key_reused: the Idempotency-Key was used with another body",
        );
        add(
            op,
            503,
            "dependency_unavailable: the event store is unavailable, retry after Retry-After",
        );
    } else if has_param(op, "X-Min-Position") {
        add(
            op,
            503,
            "projection_lagging: the projections did not reach X-Min-Position in time; \
             dependency_unavailable: a read store is unavailable",
        );
    }
    for (status, answer) in op.responses.responses.iter_mut() {
        let RefOr::T(answer) = answer else { continue };
        let error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if error && answer.content.is_empty() {
            answer
                .content
                .insert(PROBLEM_JSON.to_owned(), problem_content());
        }
        if matches!(status.as_str(), "429" | "503") {
            answer
                .headers
                .entry("Retry-After".to_owned())
                .or_insert_with(retry_after);
        }
    }
}

/// Document `status` with `description` unless the operation already does.
fn add(op: &mut Operation, status: u16, description: &str) {
    let key = status.to_string();
    if op.responses.responses.contains_key(&key) {
        return;
    }
    let answer: Response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build();
    op.responses.responses.insert(key, RefOr::T(answer));
    // Keep the answers in status order however they were added.
    let responses = std::mem::take(&mut op.responses.responses);
    op.responses = ResponsesBuilder::new()
        .responses_from_iter(responses)
        .build();
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name(PROBLEM_SCHEMA)))
}

fn integer(description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(0))
            .description(Some(description))
            .build(),
    )
}

fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(integer("seconds"))
        .description(Some("seconds to wait before retrying"))
        .build()
}

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1-128 visible ASCII characters; a retry with the same key and body \
             gets the first answer again and appends nothing",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

/// Every operation of `doc` as (method, path template), in path order. For
/// a document built together with its router (`utoipa_axum`), this is the
/// router's route table.
pub fn operations(doc: &OpenApi) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ];
        for (method, op) in methods {
            if op.is_some() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBody;
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{OpenApiBuilder, PathsBuilder};

    fn doc() -> OpenApi {
        let command = OperationBuilder::new()
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .request_body(Some(RequestBody::new()))
            .response("429", ResponseBuilder::new().description("rate_limited"))
            .build();
        let query = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("X-Min-Position")
                    .parameter_in(ParameterIn::Header),
            )
            .build();
        OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/c", PathItem::new(HttpMethod::Post, command))
                    .path("/q", PathItem::new(HttpMethod::Get, query)),
            )
            .build()
    }

    #[test]
    fn adds_the_shared_answers() {
        let mut doc = doc();
        complete(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let c = &json["paths"]["/c"]["post"];
        for status in ["400", "401", "408", "413", "415", "422", "429", "503"] {
            let content = &c["responses"][status]["content"][PROBLEM_JSON];
            assert_eq!(
                content["schema"]["$ref"], "#/components/schemas/Problem",
                "{status}: {c}"
            );
        }
        assert!(c["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert!(c["responses"]["503"]["headers"]["Retry-After"].is_object());
        assert_eq!(c["parameters"][0]["name"], "Idempotency-Key");
        let q = &json["paths"]["/q"]["get"];
        assert!(q["responses"]["401"].is_null(), "no security, no 401");
        assert!(q["responses"]["413"].is_null(), "queries take no body");
        assert!(q["responses"]["503"]["headers"]["Retry-After"].is_object());
        assert!(json["components"]["schemas"]["Problem"].is_object());
    }

    #[test]
    fn is_idempotent() {
        let mut once = doc();
        complete(&mut once);
        let mut twice = once.clone();
        complete(&mut twice);
        assert_eq!(
            serde_json::to_value(&once).unwrap(),
            serde_json::to_value(&twice).unwrap()
        );
    }
}
