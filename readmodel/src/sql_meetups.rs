//! Names in the read database of the meet-ups read model (issue 17): two
//! tables per generation of the `history` projection (the projection that
//! owns the read database), written in the same transaction as the
//! messages and under the same checkpoint, so one rebuild, one pointer and
//! one digest cover both.

/// The meet-ups of one generation: one row per meet-up, its current details.
pub fn meetups_table(generation: i64) -> String {
    format!("meetups_g{generation}")
}

/// The attendees of one generation's meet-ups, with their answers (`NULL`
/// while pending).
pub fn meetup_attendees_table(generation: i64) -> String {
    format!("meetup_attendees_g{generation}")
}

/// The calendar feed tokens of one generation: one row per user who has
/// one, the hex SHA-256 of the current token.
pub fn calendar_feeds_table(generation: i64) -> String {
    format!("calendar_feeds_g{generation}")
}

/// The statements creating generation `generation`'s meet-up tables and
/// granting `reader` (the query role) read access, in order. Each is
/// idempotent.
pub fn meetups_table_ddl(generation: i64, reader: &str) -> Vec<String> {
    let meetups = meetups_table(generation);
    let attendees = meetup_attendees_table(generation);
    let feeds = calendar_feeds_table(generation);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {feeds} (
                user_id    uuid PRIMARY KEY,
                token_hash text NOT NULL UNIQUE
             )"
        ),
        format!("GRANT SELECT ON {feeds} TO {reader}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {meetups} (
                meetup_id    uuid        PRIMARY KEY,
                room_id      uuid        NOT NULL,
                organizer_id uuid        NOT NULL,
                title        text        NOT NULL,
                starts_at    timestamptz NOT NULL,
                ends_at      timestamptz,
                place        text,
                description  text,
                remind_before_minutes integer NOT NULL,
                cancelled    boolean     NOT NULL DEFAULT false,
                sequence     integer     NOT NULL DEFAULT 0,
                planned_at   timestamptz NOT NULL,
                updated_at   timestamptz NOT NULL
             )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {attendees} (
                meetup_id uuid NOT NULL,
                user_id   uuid NOT NULL,
                rsvp      text,
                PRIMARY KEY (meetup_id, user_id)
             )"
        ),
        format!("CREATE INDEX IF NOT EXISTS {attendees}_user ON {attendees} (user_id, meetup_id)"),
        format!("GRANT SELECT ON {meetups} TO {reader}"),
        format!("GRANT SELECT ON {attendees} TO {reader}"),
    ]
}
