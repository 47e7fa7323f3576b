-- The subscriber store: one row per reader, keyed by the lower-cased address.
-- `record` holds the whole record as the YAML files would (the same fields,
-- as JSON), so both stores read and write one model; `status` is copied out
-- of it for the sender's query. `position` keeps the order readers arrived in.
-- Addresses compare byte by byte (COLLATE "C"): they are keys, lower-cased,
-- and the database's locale must not make them slower to index or different.
CREATE TABLE subscribers (
    email      text        COLLATE "C" PRIMARY KEY,
    status     text        NOT NULL CHECK (status IN ('active', 'unsubscribed', 'bounced')),
    record     jsonb       NOT NULL,
    position   bigserial   NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_active ON subscribers (position) WHERE status = 'active';
