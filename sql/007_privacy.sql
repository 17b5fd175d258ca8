-- Data protection: a family's own statements, and erasure (GDPR Art. 17)
-- that removes every personal field while ids, regions, organisations,
-- dates, statuses, outcomes, pauses and versions stay, so every metric is
-- exactly the same before and after. Erasure happens only inside
-- g1p_erase_family / g1p_erase_referral, which set g1p.erasing for their
-- transaction: the triggers that keep versions and statements immutable let
-- exactly that through, and refuse every later write to an erased resource.

ALTER TABLE referrals
  ADD COLUMN erased_on date,
  ALTER COLUMN question DROP NOT NULL,
  ALTER COLUMN family_label DROP NOT NULL,
  ALTER COLUMN family_postcode DROP NOT NULL,
  ADD CONSTRAINT referrals_complete_unless_erased
    CHECK (erased_on IS NOT NULL OR (question IS NOT NULL AND family_label IS NOT NULL AND family_postcode IS NOT NULL));
ALTER TABLE families
  ADD COLUMN erased_on date,
  ALTER COLUMN label DROP NOT NULL,
  ADD CONSTRAINT families_complete_unless_erased CHECK (erased_on IS NOT NULL OR label IS NOT NULL);

-- The family's own account (also a minor's from 12), added to its file.
CREATE TABLE family_statements (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  family_id uuid NOT NULL REFERENCES families (id),
  text text CHECK (char_length(text) BETWEEN 1 AND 10000),
  by_family boolean NOT NULL,        -- written with the family's own token
  written_by text NOT NULL,          -- the token's sub
  created_at timestamptz NOT NULL DEFAULT now(),
  erased_on date,
  CHECK (erased_on IS NOT NULL OR text IS NOT NULL)
);
CREATE INDEX family_statements_family ON family_statements (family_id, created_at, id);
CREATE VIEW family_statement_docs AS
  SELECT s.id, s.family_id, s.created_at, row_to_json(x) AS doc
  FROM family_statements s CROSS JOIN LATERAL (SELECT s.id, s.family_id, s.text, s.by_family, s.written_by,
    g1p_ts(s.created_at) AS created_at, s.erased_on) x;

-- Every erasure, by whom, why (the reason list; the note is the privacy
-- officer's and must not hold family data).
CREATE TABLE erasures (
  resource text NOT NULL CHECK (resource IN ('family', 'referral')),
  resource_id uuid NOT NULL,
  reason text NOT NULL CHECK (reason IN ('request', 'retention', 'other')),
  note text CHECK (char_length(note) <= 2000),
  erased_by text NOT NULL,
  erased_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (resource, resource_id)
);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_resource_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_resource_check
  CHECK (resource IN ('region', 'organisation', 'referral', 'family', 'plan', 'webhook'));

CREATE FUNCTION g1p_erasing() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT coalesce(current_setting('g1p.erasing', true), '') = 'on' $$;

-- Immutable rows (plan versions, statements): only an erasure may redact them.
CREATE FUNCTION g1p_immutable_unless_erasing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND g1p_erasing() THEN RETURN NEW; END IF;
  RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER plan_versions_immutable ON plan_versions;
CREATE TRIGGER plan_versions_immutable BEFORE UPDATE OR DELETE ON plan_versions FOR EACH ROW EXECUTE FUNCTION g1p_immutable_unless_erasing();
CREATE TRIGGER family_statements_immutable BEFORE UPDATE OR DELETE ON family_statements FOR EACH ROW EXECUTE FUNCTION g1p_immutable_unless_erasing();

-- An erased resource takes no more writes (409 through SQLSTATE GE001).
CREATE FUNCTION g1p_refuse_erased() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  fam uuid;
  ref uuid;
BEGIN
  IF g1p_erasing() THEN RETURN coalesce(NEW, OLD); END IF;
  IF TG_TABLE_NAME = 'referrals' THEN
    IF OLD.erased_on IS NOT NULL THEN
      RAISE EXCEPTION 'This referral was erased (data protection): it can no longer be changed.' USING ERRCODE = 'GE001';
    END IF;
    RETURN NEW;
  ELSIF TG_TABLE_NAME = 'families' THEN
    IF OLD.erased_on IS NOT NULL THEN
      RAISE EXCEPTION 'This family was erased (data protection): it can no longer be changed.' USING ERRCODE = 'GE001';
    END IF;
    RETURN NEW;
  ELSIF TG_TABLE_NAME = 'deadline_pauses' THEN
    ref := NEW.referral_id;
    IF EXISTS (SELECT 1 FROM referrals r WHERE r.id = ref AND r.erased_on IS NOT NULL) THEN
      RAISE EXCEPTION 'This referral was erased (data protection): it can no longer be changed.' USING ERRCODE = 'GE001';
    END IF;
    RETURN NEW;
  ELSE -- plans, plan_versions, family_statements: by their family
    fam := NEW.family_id;
    IF EXISTS (SELECT 1 FROM families f WHERE f.id = fam AND f.erased_on IS NOT NULL) THEN
      RAISE EXCEPTION 'This family was erased (data protection): it can no longer be changed.' USING ERRCODE = 'GE001';
    END IF;
    RETURN NEW;
  END IF;
END
$$;
CREATE TRIGGER referrals_erased BEFORE UPDATE ON referrals FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();
CREATE TRIGGER families_erased BEFORE UPDATE ON families FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();
CREATE TRIGGER deadline_pauses_erased BEFORE INSERT OR UPDATE ON deadline_pauses FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();
CREATE TRIGGER plans_erased BEFORE INSERT OR UPDATE ON plans FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();
CREATE TRIGGER plan_versions_erased BEFORE INSERT ON plan_versions FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();
CREATE TRIGGER family_statements_erased BEFORE INSERT ON family_statements FOR EACH ROW EXECUTE FUNCTION g1p_refuse_erased();

-- A plan's content without what describes the family: its question,
-- strengths, goals, actions and participants go; the next review date stays.
CREATE FUNCTION g1p_plan_skeleton(content jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('next_review_on', content -> 'next_review_on'))
$$;

-- Erases one referral's personal fields (the caller holds its row lock and
-- has set g1p.erasing).
CREATE FUNCTION g1p_redact_referral(rid uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE referrals SET question = NULL, family_label = NULL, family_postcode = NULL, family_children = '[]',
    content_hash = 'erased', erased_on = g1p_today()
  WHERE id = rid AND erased_on IS NULL;
  UPDATE deadline_pauses SET note = NULL WHERE referral_id = rid AND note IS NOT NULL;
END
$$;

-- Erases a family, its referrals, plan, every plan version and statement, in
-- the caller's transaction. Returns false when it was erased already.
CREATE FUNCTION g1p_erase_family(fid uuid, why text, note text, who text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  rid uuid;
BEGIN
  PERFORM 1 FROM families WHERE id = fid FOR UPDATE;
  IF EXISTS (SELECT 1 FROM families WHERE id = fid AND erased_on IS NOT NULL) THEN RETURN false; END IF;
  PERFORM set_config('g1p.erasing', 'on', true);
  FOR rid IN SELECT id FROM referrals WHERE family_id = fid ORDER BY id FOR UPDATE LOOP
    PERFORM g1p_redact_referral(rid);
    INSERT INTO erasures (resource, resource_id, reason, note, erased_by) VALUES ('referral', rid, why, NULL, who)
    ON CONFLICT DO NOTHING;
  END LOOP;
  UPDATE plans SET content = g1p_plan_skeleton(content), updated_by = 'erased' WHERE family_id = fid;
  UPDATE plan_versions SET doc = doc || jsonb_build_object('family_question', NULL, 'strengths', '[]'::jsonb,
      'goals', '[]'::jsonb, 'actions', '[]'::jsonb, 'participants', '[]'::jsonb)
    WHERE family_id = fid;
  -- The redaction is the plan's last version, like every change of it.
  INSERT INTO plan_versions (family_id, version, doc, changed_by, changed_at)
  SELECT d.family_id, d.version, d.doc::jsonb, 'erased', now() FROM plan_docs d WHERE d.family_id = fid;
  UPDATE family_statements SET text = NULL, erased_on = g1p_today() WHERE family_id = fid AND erased_on IS NULL;
  UPDATE families SET label = NULL, coach_name = CASE WHEN coach_sub IS NULL THEN NULL ELSE 'erased' END,
    waiting_for = (SELECT coalesce(jsonb_agg(w - 'module'), '[]') FROM jsonb_array_elements(waiting_for) w),
    erased_on = g1p_today()
  WHERE id = fid;
  INSERT INTO erasures (resource, resource_id, reason, note, erased_by) VALUES ('family', fid, why, note, who);
  PERFORM set_config('g1p.erasing', 'off', true);
  RETURN true;
END
$$;

CREATE FUNCTION g1p_erase_referral(rid uuid, why text, note text, who text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM referrals WHERE id = rid FOR UPDATE;
  IF EXISTS (SELECT 1 FROM referrals WHERE id = rid AND erased_on IS NOT NULL) THEN RETURN false; END IF;
  PERFORM set_config('g1p.erasing', 'on', true);
  PERFORM g1p_redact_referral(rid);
  INSERT INTO erasures (resource, resource_id, reason, note, erased_by) VALUES ('referral', rid, why, note, who);
  PERFORM set_config('g1p.erasing', 'off', true);
  RETURN true;
END
$$;

-- Representations: erased_on appended (and the erased fields come out null).
CREATE OR REPLACE VIEW referral_docs AS
  SELECT r.id, r.region, r.source_org, r.referrer_organisation_id, r.received_on, r.status,
         r.external_ref, r.version,
         r.doc_head
           || ',"first_contact_due":"'
           || (r.due_base + CASE WHEN r.open_pause_from IS NOT NULL AND r.open_pause_from <= g1p_today()
                                 THEN g1p_today() - r.open_pause_from + 1 ELSE 0 END)::text
           || '","deadline_pauses":'
           || CASE WHEN r.paused_days > 0 OR r.open_pause_from IS NOT NULL
                   THEN coalesce((SELECT json_agg(d.doc ORDER BY d.from_on) FROM deadline_pause_docs d WHERE d.referral_id = r.id), '[]'::json)::text
                   ELSE '[]' END
           || ',"erased_on":' || coalesce(to_json(r.erased_on)::text, 'null')
           || '}' AS doc
  FROM referrals r;

CREATE OR REPLACE VIEW family_docs AS
  SELECT f.id, f.region, f.coach_sub, f.coach_organisation_id, f.version, row_to_json(x) AS doc
  FROM families f CROSS JOIN LATERAL (SELECT
    f.id, f.region, f.label,
    CASE WHEN f.coach_sub IS NULL THEN NULL ELSE
      (SELECT row_to_json(c) FROM (SELECT f.coach_sub AS sub, f.coach_name AS name, f.coach_organisation_id AS organisation_id) c) END AS coach,
    coalesce((SELECT json_agg(r.id ORDER BY r.received_on, r.id) FROM referrals r WHERE r.family_id = f.id), '[]'::json) AS referral_ids,
    f.waiting_for,
    (SELECT p.version FROM plans p WHERE p.family_id = f.id) AS plan_version,
    g1p_ts(f.created_at) AS created_at, g1p_ts(f.updated_at) AS updated_at, f.version, f.erased_on) x;

-- family.erased / referral.erased for the change feed's subscribers.
CREATE OR REPLACE FUNCTION g1p_event_types(resource text, op text, doc jsonb, old_doc jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[resource || '.' || CASE op WHEN 'create' THEN 'created' WHEN 'update' THEN 'updated' ELSE 'deleted' END]
    || CASE WHEN resource = 'referral' AND op = 'update' AND old_doc ->> 'first_contact_on' IS NULL
              AND doc ->> 'first_contact_on' IS NOT NULL THEN ARRAY['referral.first_contact'] ELSE '{}'::text[] END
    || CASE WHEN resource = 'plan' AND doc ->> 'agreed_version' IS NOT NULL
              AND (old_doc IS NULL OR old_doc ->> 'agreed_version' IS DISTINCT FROM doc ->> 'agreed_version')
            THEN ARRAY['plan.agreed'] ELSE '{}'::text[] END
    || CASE WHEN resource IN ('family', 'referral') AND op = 'update' AND old_doc ->> 'erased_on' IS NULL
              AND doc ->> 'erased_on' IS NOT NULL THEN ARRAY[resource || '.erased'] ELSE '{}'::text[] END
$$;
