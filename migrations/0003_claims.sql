-- Cooperative senders: several `send` processes share one edition. Each
-- edition's audience is queued once as `pending` rows (`editions` says when),
-- and a worker claims a batch of due rows (`SELECT … FOR UPDATE SKIP LOCKED`)
-- by writing its id into `worker` and a lease into `lease_until`, renews the
-- lease while it works, and writes every change only where `worker` is still
-- its own. `finished_at` is when the row last got an outcome: a run retries
-- a deferred, skipped or unknown row only if it was finished before the run
-- began, so no run loops on its own outcomes.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'deferred', 'unknown'));
ALTER TABLE deliveries ADD COLUMN lease_until timestamptz;
ALTER TABLE deliveries ADD COLUMN finished_at timestamptz;
UPDATE deliveries SET finished_at = updated_at WHERE state <> 'sending';

-- The rows a claim looks at: a claim walks this index in address order and
-- the rows already sent or failed are not in it.
CREATE INDEX deliveries_due ON deliveries (day, email)
    WHERE state IN ('pending', 'sending', 'deferred', 'skipped', 'unknown');
-- The rows some worker holds: what a lease renewal touches.
CREATE INDEX deliveries_leased ON deliveries (day, worker) WHERE lease_until IS NOT NULL;

-- One row per edition whose audience was queued, and when the last queueing
-- began: a later worker queues only the readers changed since.
CREATE TABLE editions (
    day       text        COLLATE "C" PRIMARY KEY,
    queued_at timestamptz NOT NULL
);
