-- The delivery ledger and what came back, as in the SQLite ledger: one row
-- per (edition, reader) saying where its message is, and one per (report,
-- recipient) of returned mail. `day` is the edition's key (`2021-02-12`, or
-- `2021-W06` for a weekly edition); `worker` names the process that wrote
-- the row last (host and process id), for `status`.
CREATE TABLE deliveries (
    day        text        COLLATE "C" NOT NULL,
    email      text        COLLATE "C" NOT NULL,
    state      text        NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'skipped', 'deferred', 'unknown')),
    attempts   integer     NOT NULL DEFAULT 0,
    unknowns   integer     NOT NULL DEFAULT 0,
    last_reply text,
    message_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    sent_at    timestamptz,
    hard       boolean     NOT NULL DEFAULT true,
    worker     text,
    PRIMARY KEY (day, email)
);
CREATE INDEX deliveries_by_email ON deliveries (email, day);

CREATE TABLE events (
    source      text        NOT NULL,
    recipient   text        NOT NULL,
    email       text,
    day         date,
    kind        text        NOT NULL,
    reason      text,
    status      text,
    reply_code  integer,
    hard        boolean     NOT NULL DEFAULT false,
    diagnostic  text,
    domain      text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (source, recipient)
);
CREATE INDEX events_by_email ON events (email, received_at);
CREATE INDEX events_by_day ON events (day);
