-- casepush's own settings and queue of automatic pushes (casepush.domain.automatic_push).
--
-- automatic_push_settings: per space, owner and connector, whether changed cases are pushed by
-- themselves. case_sync_settings: per space and connector, whether pushes also send the case's
-- status and assignees, and the type's options for it.
-- automatic_pushes: the outbox, one row per case and connector once a change asked for a push. A
-- change bumps `generation` and moves `due_ms` to the end of the quiet period; a worker takes due rows
-- under a lease (`lease_owner`, `lease_until_ms`); a push settles the row only if `generation` is still
-- the one it pushed, so that a change made meanwhile is pushed again.

CREATE TABLE automatic_push_settings (
    space_id TEXT COLLATE "C" NOT NULL,
    owner TEXT NOT NULL,
    connector_id TEXT COLLATE "C" NOT NULL,
    data JSONB NOT NULL,
    PRIMARY KEY (space_id, owner, connector_id)
);

CREATE TABLE case_sync_settings (
    space_id TEXT COLLATE "C" NOT NULL,
    connector_id TEXT COLLATE "C" NOT NULL,
    data JSONB NOT NULL,
    PRIMARY KEY (space_id, connector_id)
);

CREATE TABLE automatic_pushes (
    space_id TEXT COLLATE "C" NOT NULL,
    case_id TEXT COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    connector_id TEXT COLLATE "C" NOT NULL,
    owner TEXT NOT NULL,
    generation BIGINT NOT NULL,
    state TEXT NOT NULL,            -- idle, pending, running, retrying, failed
    due_ms BIGINT,
    pending_since_ms BIGINT,
    attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    caused_by TEXT,
    last_attempt_ms BIGINT,
    last_outcome TEXT,
    last_error TEXT,
    last_pushed_ms BIGINT,
    PRIMARY KEY (space_id, case_id, connector_id)
);
CREATE INDEX automatic_pushes_due ON automatic_pushes (due_ms) WHERE state IN ('pending', 'retrying', 'running');
CREATE INDEX automatic_pushes_case ON automatic_pushes (case_id);
