-- Roles (Kibana's role body in `data`) and API keys (only a SHA-256 of the secret is kept).

CREATE TABLE roles (
    name TEXT COLLATE "C" PRIMARY KEY,
    data JSONB NOT NULL
);

CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    username TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    invalidated_ms BIGINT,
    data JSONB NOT NULL
);
CREATE INDEX api_keys_username ON api_keys (username);

-- Kibana's default space has a colour.
UPDATE spaces SET data = jsonb_set(data, '{color}', '"#00bfb3"') WHERE id = 'default';
