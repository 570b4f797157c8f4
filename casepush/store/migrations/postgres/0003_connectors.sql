-- Connectors (Kibana's actions). Ids are unique across spaces, as Kibana's are; `secrets` holds only
-- ciphertext bound to the connector's id.

CREATE TABLE connectors (
    id TEXT COLLATE "C" PRIMARY KEY,
    space_id TEXT NOT NULL,
    type_id TEXT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    config JSONB NOT NULL,
    secrets TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX connectors_space_name ON connectors (space_id, name);

-- For `referenced_by_count`: the cases naming a connector.
CREATE INDEX cases_connector ON cases (space_id, (data -> 'connector' ->> 'id'));
