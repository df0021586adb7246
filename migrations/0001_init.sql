-- wagate schema, version 1. snake_case everywhere so psql needs no quoting.
-- Every per-instance table is keyed by instance_id and deleted with the instance.

CREATE TABLE instance (
    id                         uuid PRIMARY KEY,
    name                       text NOT NULL UNIQUE,
    token                      text NOT NULL,
    integration                text NOT NULL DEFAULT 'WHATSAPP-BAILEYS',
    connection_status          text NOT NULL DEFAULT 'close'
                               CHECK (connection_status IN ('open', 'close', 'connecting')),
    owner_jid                  text,
    profile_name               text,
    profile_pic_url            text,
    number                     text,
    business_id                text,
    client_name                text NOT NULL DEFAULT 'wagate',
    disconnection_reason_code  integer,
    disconnection_object       text,
    disconnection_at           timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_token_idx ON instance (token);

CREATE TABLE instance_setting (
    instance_id        uuid PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    reject_call        boolean NOT NULL DEFAULT false,
    msg_call           text NOT NULL DEFAULT '',
    groups_ignore      boolean NOT NULL DEFAULT false,
    always_online      boolean NOT NULL DEFAULT false,
    read_messages      boolean NOT NULL DEFAULT false,
    read_status        boolean NOT NULL DEFAULT false,
    sync_full_history  boolean NOT NULL DEFAULT false,
    wavoip_token       text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instance_webhook (
    instance_id  uuid PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    enabled      boolean NOT NULL DEFAULT true,
    url          text NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    by_events    boolean NOT NULL DEFAULT false,
    base64       boolean NOT NULL DEFAULT false,
    events       text[] NOT NULL DEFAULT '{}',     -- filter names (CONNECTION_UPDATE, ...); empty = all
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instance_proxy (
    instance_id  uuid PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    enabled      boolean NOT NULL DEFAULT false,
    host         text NOT NULL DEFAULT '',
    port         text NOT NULL DEFAULT '',
    protocol     text NOT NULL DEFAULT 'http',
    username     text NOT NULL DEFAULT '',
    password     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Device credentials (noise key, identity, registration id, adv secret, own JID ...), one row per instance.
CREATE TABLE auth_creds (
    instance_id  uuid PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    creds        bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signal_identity (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    address      text NOT NULL,
    identity_key bytea NOT NULL,
    PRIMARY KEY (instance_id, address)
);

CREATE TABLE signal_prekey (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    key_id       integer NOT NULL,
    record       bytea NOT NULL,
    uploaded     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (instance_id, key_id)
);

CREATE TABLE signal_signed_prekey (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    key_id       integer NOT NULL,
    record       bytea NOT NULL,
    PRIMARY KEY (instance_id, key_id)
);

CREATE TABLE signal_session (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    address      text NOT NULL,
    record       bytea NOT NULL,
    PRIMARY KEY (instance_id, address)
);

CREATE TABLE signal_sender_key (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    group_id     text NOT NULL,
    sender       text NOT NULL,
    record       bytea NOT NULL,
    PRIMARY KEY (instance_id, group_id, sender)
);

CREATE TABLE chat (
    id              bigserial PRIMARY KEY,
    instance_id     uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    remote_jid      text NOT NULL,
    name            text,
    unread_messages integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, remote_jid)
);

CREATE TABLE contact (
    id              bigserial PRIMARY KEY,
    instance_id     uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    remote_jid      text NOT NULL,
    push_name       text,
    profile_pic_url text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, remote_jid)
);

CREATE TABLE message (
    id                bigserial PRIMARY KEY,
    instance_id       uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    key_id            text NOT NULL,
    remote_jid        text NOT NULL,
    from_me           boolean NOT NULL,
    participant       text,
    push_name         text,
    message_type      text NOT NULL,
    key               jsonb NOT NULL,
    message           jsonb NOT NULL,
    message_timestamp bigint NOT NULL,
    status            text,
    source            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, key_id)
);
CREATE INDEX message_chat_idx ON message (instance_id, remote_jid, message_timestamp);

-- Durable webhook outbox. No foreign key: an instance.delete event outlives its instance.
-- The row holds everything needed to deliver it: target URL, headers and the full envelope.
CREATE TABLE webhook_outbox (
    id               bigserial PRIMARY KEY,
    instance_id      uuid,
    event            text NOT NULL,           -- dotted name, e.g. connection.update
    url              text NOT NULL,           -- final POST target (byEvents suffix applied)
    headers          jsonb NOT NULL DEFAULT '{}'::jsonb,
    body             jsonb NOT NULL,          -- the Evolution envelope
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at);
CREATE INDEX webhook_outbox_instance_idx ON webhook_outbox (instance_id);
