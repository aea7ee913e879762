-- Meet-up reminders (issue 17): the scheduler's due times, derived from the
-- log (rebuilt by following it from `scheduler_checkpoints`), never a source
-- of truth: a row only says "this reminder is owed at `due_at`"; whether it
-- fired is decided by the log's unique event id `reminder_event_id`.
CREATE TABLE meetup_reminders_due (
    reminder_event_id uuid PRIMARY KEY,
    meetup_id uuid NOT NULL,
    user_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL
);
CREATE INDEX meetup_reminders_due_by_meetup ON meetup_reminders_due (meetup_id);
CREATE INDEX meetup_reminders_due_by_time ON meetup_reminders_due (due_at);

-- How far a scheduler's table follows the log (one row per table it derives).
CREATE TABLE scheduler_checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
