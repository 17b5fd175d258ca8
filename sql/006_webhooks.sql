-- Webhooks: partner systems are told when something they may read changes.
-- The change rows of the feed are the outbox: the trigger that writes a
-- change row (g1p_record_change) also writes the change's events and one
-- delivery per enabled subscription that may read the resource, in the
-- writer's transaction. A change that rolls back leaves no event; one that
-- commits has all of them. Delivery workers (api/deliver.c) in any instance
-- claim due deliveries with FOR UPDATE SKIP LOCKED and a lease.

CREATE TABLE webhooks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
  events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 32),
  description text CHECK (char_length(description) <= 500),
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
  -- What the creating token could read, which is what the subscription may
  -- be told about: its organisation, its regions (NULL: all) and its read
  -- scopes.
  created_by text NOT NULL,
  org uuid,
  regions text[],
  reads_referrals boolean NOT NULL,
  reads_families boolean NOT NULL,
  secret text NOT NULL,
  previous_secret text,            -- still signs until previous_secret_until (rotation)
  previous_secret_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE TRIGGER webhooks_touch BEFORE UPDATE ON webhooks FOR EACH ROW EXECUTE FUNCTION g1p_touch();
CREATE INDEX webhooks_enabled ON webhooks (id) WHERE enabled;

-- Since when a subscription has only failed (no row: its last attempt
-- succeeded). Kept apart from webhooks so that delivery outcomes do not
-- change the subscription's version (clients PATCH it with If-Match).
CREATE TABLE webhook_failing (
  webhook_id uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
  since timestamptz NOT NULL
);

CREATE TABLE webhook_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  change_id bigint REFERENCES changes (id),  -- NULL for webhook.ping
  type text NOT NULL,
  resource text NOT NULL,
  resource_id text NOT NULL,
  version integer,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id uuid NOT NULL REFERENCES webhook_events (id),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,         -- claimed by a worker until then
  payload text,                    -- the body as first sent: every retry sends the same bytes
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  last_duration_ms integer,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (webhook_id, created_at, id);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_resource_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_resource_check
  CHECK (resource IN ('region', 'organisation', 'referral', 'family', 'plan', 'webhook'));

-- May a subscription read this resource, as its creating token could?
-- doc is the resource's row as jsonb (for a plan, the plan row).
CREATE FUNCTION g1p_webhook_may_read(w webhooks, resource text, doc jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  fam families;
  participants jsonb;
BEGIN
  IF resource = 'organisation' THEN
    RETURN true;
  ELSIF resource = 'region' THEN
    RETURN w.regions IS NULL OR doc ->> 'code' = ANY (w.regions);
  ELSIF resource = 'referral' THEN
    RETURN w.reads_referrals
      AND (w.regions IS NULL OR doc ->> 'region' = ANY (w.regions))
      AND (w.org IS NULL OR doc ->> 'source_org' = w.org::text OR doc ->> 'referrer_organisation_id' = w.org::text);
  ELSIF resource IN ('family', 'plan') THEN
    IF NOT w.reads_families THEN RETURN false; END IF;
    IF resource = 'family' THEN
      fam := jsonb_populate_record(NULL::families, doc);
      SELECT p.content -> 'participants' INTO participants FROM plans p WHERE p.family_id = fam.id;
    ELSE
      SELECT * INTO fam FROM families f WHERE f.id = (doc ->> 'family_id')::uuid;
      participants := doc -> 'content' -> 'participants';
    END IF;
    RETURN fam.id IS NOT NULL
      AND (w.regions IS NULL OR fam.region = ANY (w.regions))
      AND (w.org IS NULL OR fam.coach_organisation_id = w.org
           OR coalesce(participants @> jsonb_build_array(jsonb_build_object('organisation_id', w.org::text)), false));
  END IF;
  RETURN false;
END
$$;

-- The event types of one change: every change of a resource is its
-- <resource>.created / .updated (/ .deleted); a first contact and a family's
-- agreement are also events of their own.
CREATE FUNCTION g1p_event_types(resource text, op text, doc jsonb, old_doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[resource || '.' || CASE op WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' ELSE 'deleted' END]
    || CASE WHEN resource = 'referral' AND op = 'update' AND old_doc ->> 'first_contact_on' IS NULL
              AND doc ->> 'first_contact_on' IS NOT NULL THEN ARRAY['referral.first_contact'] ELSE '{}'::text[] END
    || CASE WHEN resource = 'plan' AND doc ->> 'agreed_version' IS NOT NULL
              AND (old_doc IS NULL OR old_doc ->> 'agreed_version' IS DISTINCT FROM doc ->> 'agreed_version')
            THEN ARRAY['plan.agreed'] ELSE '{}'::text[] END
$$;

-- Events and deliveries of one committed-to-be change. Only events some
-- subscription wants are stored at all.
CREATE FUNCTION g1p_webhook_fanout(change_id bigint, resource text, resource_id text, version integer,
                                   op text, doc jsonb, old_doc jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t text;
  event uuid;
BEGIN
  FOREACH t IN ARRAY g1p_event_types(resource, op, doc, old_doc) LOOP
    IF EXISTS (SELECT 1 FROM webhooks w WHERE w.enabled AND (w.events @> ARRAY['*'] OR t = ANY (w.events))
               AND g1p_webhook_may_read(w, resource, doc)) THEN
      INSERT INTO webhook_events (change_id, type, resource, resource_id, version)
      VALUES (change_id, t, resource, resource_id, version) RETURNING id INTO event;
      INSERT INTO webhook_deliveries (webhook_id, event_id)
      SELECT w.id, event FROM webhooks w
      WHERE w.enabled AND (w.events @> ARRAY['*'] OR t = ANY (w.events)) AND g1p_webhook_may_read(w, resource, doc);
      PERFORM pg_notify('g1p_webhooks', '');
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION g1p_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  doc jsonb;
  old_doc jsonb;
  change bigint;
  op text := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END;
BEGIN
  IF TG_OP = 'DELETE' THEN doc := to_jsonb(OLD); ELSE doc := to_jsonb(NEW); END IF;
  INSERT INTO changes (resource, resource_id, version, op)
  VALUES (TG_ARGV[0], doc ->> TG_ARGV[1], (doc ->> 'version')::int, op)
  RETURNING id INTO change;
  -- Without subscriptions a write pays one index probe, nothing more.
  IF EXISTS (SELECT 1 FROM webhooks WHERE enabled) THEN
    IF TG_OP = 'UPDATE' THEN old_doc := to_jsonb(OLD); END IF;
    PERFORM g1p_webhook_fanout(change, TG_ARGV[0], doc ->> TG_ARGV[1], (doc ->> 'version')::int, op, doc, old_doc);
  END IF;
  RETURN NULL;
END
$$;
