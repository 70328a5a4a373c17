-- Neotoma's truth layer: a user's entities, the immutable observations made about them, the
-- snapshot (current truth) reduced from those observations, typed relationships, a timeline
-- derived from date-valued fields, and a registry of the entity types seen.
--
-- Every row belongs to one user. Row-level security (forced, so the owning role is bound too)
-- shows a transaction only the rows of the user named by `neotoma.user_id`, which the app sets
-- from the validated access token alone: a query without a WHERE clause still sees one user.

CREATE TABLE entities (
    id                  text        PRIMARY KEY,   -- deterministic: hash of (user, type, normalized name)
    user_id             text        NOT NULL,
    entity_type         text        NOT NULL,
    canonical_name      text        NOT NULL,
    normalized_name     text        NOT NULL,
    aliases             text[]      NOT NULL DEFAULT '{}',
    normalized_aliases  text[]      NOT NULL DEFAULT '{}',
    merged_to           text        REFERENCES entities (id),
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, entity_type, normalized_name)
);
CREATE INDEX entities_user_type_idx ON entities (user_id, entity_type);
CREATE INDEX entities_user_name_idx ON entities (user_id, normalized_name text_pattern_ops);
CREATE INDEX entities_aliases_idx ON entities USING gin (normalized_aliases);

-- Immutable facts about an entity. A user correction outranks structured input, which
-- outranks AI extraction (source_priority 300 / 200 / 100).
CREATE TABLE observations (
    id                  text        PRIMARY KEY,
    user_id             text        NOT NULL,
    entity_id           text        NOT NULL REFERENCES entities (id),
    fields              jsonb       NOT NULL,
    source              text        NOT NULL CHECK (source IN ('correction', 'structured', 'ai')),
    source_priority     integer     NOT NULL,
    specificity         integer     NOT NULL DEFAULT 0,
    observed_at         timestamptz NOT NULL,
    idempotency_key     text,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX observations_entity_idx ON observations (entity_id, observed_at);
CREATE INDEX observations_user_idx ON observations (user_id, created_at);

-- The current truth per entity: per field the value of the highest priority, then most
-- specific, then most recent observation, with the observation it came from.
CREATE TABLE entity_snapshots (
    entity_id           text        PRIMARY KEY REFERENCES entities (id),
    user_id             text        NOT NULL,
    fields              jsonb       NOT NULL,
    provenance          jsonb       NOT NULL,
    observation_count   integer     NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE relationships (
    id                  text        PRIMARY KEY,   -- deterministic: hash of (user, type, source, target)
    user_id             text        NOT NULL,
    relationship_type   text        NOT NULL CHECK (relationship_type IN
                            ('PART_OF', 'REFERS_TO', 'DEPENDS_ON', 'SUPERSEDES', 'DUPLICATE_OF', 'CORRECTS', 'SETTLES', 'EMBEDS')),
    source_entity_id    text        NOT NULL REFERENCES entities (id),
    target_entity_id    text        NOT NULL REFERENCES entities (id),
    snapshot            jsonb       NOT NULL DEFAULT '{}',
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relationships_source_idx ON relationships (user_id, source_entity_id);
CREATE INDEX relationships_target_idx ON relationships (user_id, target_entity_id);

CREATE TABLE relationship_observations (
    id                  text        PRIMARY KEY,
    user_id             text        NOT NULL,
    relationship_id     text        NOT NULL REFERENCES relationships (id),
    fields              jsonb       NOT NULL,
    source_priority     integer     NOT NULL,
    observed_at         timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relationship_observations_idx ON relationship_observations (relationship_id);

-- Dated facts, derived from date-valued observation fields.
CREATE TABLE timeline_events (
    id                  bigserial   PRIMARY KEY,
    user_id             text        NOT NULL,
    entity_id           text        NOT NULL REFERENCES entities (id),
    observation_id      text        NOT NULL REFERENCES observations (id),
    entity_type         text        NOT NULL,
    field               text        NOT NULL,
    event_at            timestamptz NOT NULL
);
CREATE INDEX timeline_events_user_idx ON timeline_events (user_id, event_at);

-- The entity types a user has stored, with the fields seen and their JSON types.
CREATE TABLE entity_types (
    user_id             text        NOT NULL,
    entity_type         text        NOT NULL,
    fields              jsonb       NOT NULL DEFAULT '{}',
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, entity_type)
);

-- A store call made with an idempotency key, and what it answered: a retry answers the same.
CREATE TABLE store_requests (
    user_id             text        NOT NULL,
    idempotency_key     text        NOT NULL,
    response            jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);

SELECT neotoma_protect_user_table('entities');
SELECT neotoma_protect_user_table('observations');
SELECT neotoma_protect_user_table('entity_snapshots');
SELECT neotoma_protect_user_table('relationships');
SELECT neotoma_protect_user_table('relationship_observations');
SELECT neotoma_protect_user_table('timeline_events');
SELECT neotoma_protect_user_table('entity_types');
SELECT neotoma_protect_user_table('store_requests');
