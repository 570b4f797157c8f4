-- Two-way sync (casepush.domain.sync): what changes in an external system comes back to its case.
--
-- case_sync_settings.inbound_secret: the connector's inbound webhook secret, sealed as connector secrets.
-- external_links: which case each incident belongs to, per connector (written by every push).
-- pushed_comments: the external ids of comments casepush pushed, never brought back.
-- imported_comments: the case comment each external comment became.
-- sync_changes: the external changes applied, by their id: each is applied once.
-- sync_state: per connector, the poll's cursor and lease, and the last webhook's and poll's outcome.

ALTER TABLE case_sync_settings ADD COLUMN inbound_secret TEXT;

CREATE TABLE external_links (
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    PRIMARY KEY (space_id, connector_id, external_id)
);
CREATE INDEX external_links_case ON external_links (case_id);
INSERT INTO external_links (space_id, connector_id, external_id, case_id)
    SELECT space_id, json_extract(data, '$.external_service.connector_id'),
           json_extract(data, '$.external_service.external_id'), id
    FROM cases WHERE json_extract(data, '$.external_service.external_id') IS NOT NULL;

CREATE TABLE pushed_comments (
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    external_comment_id TEXT NOT NULL,
    PRIMARY KEY (space_id, connector_id, external_comment_id)
);

CREATE TABLE imported_comments (
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    external_comment_id TEXT NOT NULL,
    -- Kept when the comment is deleted from the case: the external comment's later edits stay out.
    attachment_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    PRIMARY KEY (space_id, connector_id, external_comment_id)
);
CREATE INDEX imported_comments_attachment ON imported_comments (attachment_id);
CREATE INDEX imported_comments_case ON imported_comments (case_id);

CREATE TABLE sync_changes (
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    change_id TEXT NOT NULL,
    applied_ms INTEGER NOT NULL,
    PRIMARY KEY (space_id, connector_id, change_id)
);
CREATE INDEX sync_changes_applied ON sync_changes (applied_ms);

CREATE TABLE sync_state (
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    cursor TEXT,
    since_ms INTEGER NOT NULL,
    due_ms INTEGER,
    lease_owner TEXT,
    lease_until_ms INTEGER,
    last_poll_ms INTEGER,
    last_poll_error TEXT,
    last_inbound_ms INTEGER,
    last_inbound_error TEXT,
    applied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (space_id, connector_id)
);
