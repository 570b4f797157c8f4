-- As SQLite's 0001. Objects keep their full JSON document in `data`; the other columns exist to filter,
-- sort and join. `seq` is the optimistic-concurrency counter behind Kibana's `version`.
-- Text that is sorted or compared uses the C collation, so that it orders bytewise and ILIKE folds only
-- ASCII letters, exactly as SQLite's default collation and LIKE do.

CREATE TABLE spaces (
    id TEXT PRIMARY KEY,
    data JSONB NOT NULL
);
INSERT INTO spaces (id, data) VALUES ('default', '{"id":"default","name":"Default","description":"This is your default space!","disabledFeatures":[],"_reserved":true}');

CREATE TABLE users (
    username TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT NOT NULL,
    data JSONB NOT NULL
);

CREATE TABLE cases (
    id TEXT COLLATE "C" PRIMARY KEY,
    space_id TEXT NOT NULL REFERENCES spaces (id),
    seq BIGINT NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    status INTEGER NOT NULL,      -- Kibana's codes: open 0, in-progress 10, closed 20
    severity INTEGER NOT NULL,    -- low 0, medium 10, high 20, critical 30
    title TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    category TEXT COLLATE "C",
    reporter TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C",
    closed_at TEXT COLLATE "C",
    data JSONB NOT NULL
);
CREATE INDEX cases_space_owner_created ON cases (space_id, owner, created_at);
CREATE INDEX cases_space_status ON cases (space_id, status);

CREATE TABLE case_tags (
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (case_id, tag)
);
CREATE INDEX case_tags_tag ON case_tags (tag);

CREATE TABLE case_assignees (
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    uid TEXT NOT NULL,
    PRIMARY KEY (case_id, uid)
);
CREATE INDEX case_assignees_uid ON case_assignees (uid);

CREATE TABLE attachments (
    pos BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    space_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    data JSONB NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id, created_at);

-- `pos` keeps the alerts of an attachment in their order (SQLite uses its rowid).
CREATE TABLE case_alerts (
    pos BIGSERIAL PRIMARY KEY,
    attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    case_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    alert_index TEXT NOT NULL,
    attached_at TEXT NOT NULL
);
CREATE INDEX case_alerts_attachment ON case_alerts (attachment_id);
CREATE INDEX case_alerts_case ON case_alerts (case_id);
CREATE INDEX case_alerts_alert ON case_alerts (alert_id);

CREATE TABLE user_actions (
    pos BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    space_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    attachment_type TEXT,         -- for comment user actions: the attachment's type
    created_at TEXT NOT NULL,
    data JSONB NOT NULL
);
CREATE INDEX user_actions_case ON user_actions (case_id, pos);

CREATE TABLE configurations (
    id TEXT PRIMARY KEY,
    space_id TEXT NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    data JSONB NOT NULL,
    UNIQUE (space_id, owner)
);
