-- One row while a case is being pushed to a connector: the claim that keeps pushes of the same case
-- to the same connector one at a time (across processes), and the journal of an external create in
-- flight (`creating`), which a later push reads to recover from a crash instead of creating twice.

CREATE TABLE push_claims (
    space_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    creating BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (space_id, case_id, connector_id)
);
CREATE INDEX push_claims_token ON push_claims (token);
