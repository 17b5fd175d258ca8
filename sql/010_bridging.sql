-- Bridging and continuity: the programme promises help that stays while a
-- family waits for regular care, and one constant coach.
--
-- families.waiting_for stays the family's own list (what the API shows and
-- erasure redacts), now with an id per item and when the care started or
-- the wait ended. Two narrow tables follow it by trigger, in the writer's
-- transaction, so metrics and filters never unpack JSON:
--   family_waits     one row per waiting item: its dates, and ended_on (the
--                    day `ended` was set, which the API does not show but
--                    "ended by that day" needs);
--   family_bridging  per family, the spells during which it waited for at
--                    least one item (items merged), so a family waiting for
--                    two modules counts once.
-- Every change of coach is kept in family_coaches, also by trigger, so
-- whatever writes a family (the API, an erasure, a later migration) keeps
-- the history complete. None of these tables holds text about the family
-- except the coaches' names, which erasure removes.

CREATE TABLE family_waits (
  family_id uuid NOT NULL REFERENCES families (id),
  item_id uuid NOT NULL,
  region text NOT NULL,
  since date NOT NULL,
  started_on date,
  ended text CHECK (ended IN ('started', 'no_longer_needed', 'other')),
  ended_on date,                    -- the day `ended` was first set; cleared with it
  started_month date GENERATED ALWAYS AS (started_on - (extract(day FROM started_on)::int - 1)) STORED,
  PRIMARY KEY (family_id, item_id),
  CHECK (started_on IS NULL OR started_on >= since),
  CHECK ((ended IS NULL) = (ended_on IS NULL)),
  CHECK (ended IS DISTINCT FROM 'started' OR started_on IS NOT NULL)
);
-- families?waiting=true: open items (not started, not ended) by family.
CREATE INDEX family_waits_open ON family_waits (family_id) WHERE started_on IS NULL AND ended IS NULL;
-- median_days_waiting_for_care: items whose care started, in the order the
-- metrics group them (month, region), so the medians need no sort of the
-- whole range (measured: 0.35 s of sorting for ten years without it).
CREATE INDEX family_waits_started ON family_waits (started_month, region) INCLUDE (started_on, since, family_id)
  WHERE started_on IS NOT NULL;

-- A spell [from_on, to_on): the family waited on from_on and every day up to
-- the day before to_on (null: it still waits).
CREATE TABLE family_bridging (
  family_id uuid NOT NULL REFERENCES families (id),
  region text NOT NULL,
  from_on date NOT NULL,
  to_on date,
  PRIMARY KEY (family_id, from_on),
  CHECK (to_on IS NULL OR to_on > from_on)
);
-- families_bridging: spells by the day they ended (still running: at the
-- end), with what the count needs; a range reads only the spells that end
-- after its first month.
CREATE INDEX family_bridging_metrics ON family_bridging ((coalesce(to_on, 'infinity'::date))) INCLUDE (from_on, to_on, region, family_id);

-- Coach periods, numbered 1, 2, ... per family. from_on is the day
-- (Europe/Brussels) the coach was set; to_on the day the coach was replaced
-- or removed (null: the current coach). A period ends on the same day the
-- next one starts, so a coach set and replaced on one day is a period of one
-- day and periods never run backwards. organisation_id has no foreign key:
-- the history names the organisation as it was, even once it is deleted.
CREATE TABLE family_coaches (
  family_id uuid NOT NULL REFERENCES families (id),
  period integer NOT NULL CHECK (period >= 1),
  sub text NOT NULL,
  name text NOT NULL,
  organisation_id uuid,
  from_on date NOT NULL,
  to_on date,
  PRIMARY KEY (family_id, period),
  CHECK (to_on IS NULL OR to_on >= from_on)
);
CREATE UNIQUE INDEX family_coaches_current ON family_coaches (family_id) WHERE to_on IS NULL;

-- families_with_one_coach_rate reads families only: how many coach periods
-- each has had (kept by trigger, no counting of history rows) and the day
-- the referral that started it was received (the family's row in
-- families_started; null for a stand-alone family). A referral's received_on
-- and region never change, so the copy cannot drift; the covering index
-- serves the metric without a join to referrals (measured: 0.16 s of
-- lookups for one year with the join).
ALTER TABLE families
  ADD COLUMN coach_periods integer NOT NULL DEFAULT 0 CHECK (coach_periods >= 0),
  ADD COLUMN referral_received_on date;
CREATE INDEX families_started ON families (referral_received_on) INCLUDE (region, coach_periods, id)
  WHERE referral_received_on IS NOT NULL;

-- ---- existing families ----------------------------------------------------
-- Every waiting item gets an id and the new members (null); module,
-- organisation_id and since are kept (an erased item stays without module).
-- The user triggers of families are off for this one statement: it changes
-- the format, not the family, so it must not bump versions (clients' ETags
-- stay valid), write a change row per family (every partner would re-read
-- every family) or fan out one webhook event per family and subscriber, and
-- the trigger that refuses writes to erased families must let their items
-- through too. The new tables are filled explicitly below.
ALTER TABLE families DISABLE TRIGGER USER;
UPDATE families SET
  waiting_for = (SELECT coalesce(jsonb_agg(
      jsonb_build_object('id', gen_random_uuid(), 'sector', NULL, 'organisation_id', w -> 'organisation_id',
                         'since', w -> 'since', 'started_on', NULL, 'ended', NULL)
      || CASE WHEN w ? 'module' THEN jsonb_build_object('module', w -> 'module') ELSE '{}'::jsonb END
      ORDER BY e.n), '[]'::jsonb)
    FROM jsonb_array_elements(waiting_for) WITH ORDINALITY e(w, n)),
  coach_periods = (coach_sub IS NOT NULL)::int,
  referral_received_on = (SELECT r.received_on FROM referrals r WHERE r.family_id = families.id AND r.started_family);
ALTER TABLE families ENABLE TRIGGER USER;

INSERT INTO family_waits (family_id, item_id, region, since)
SELECT f.id, (w ->> 'id')::uuid, f.region, (w ->> 'since')::date
FROM families f CROSS JOIN LATERAL jsonb_array_elements(f.waiting_for) w;

-- Coaches set before this release: their history was not kept, so their
-- period starts on the day the family was started (the earliest they can
-- have been set) and counts as the family's one coach so far.
INSERT INTO family_coaches (family_id, period, sub, name, organisation_id, from_on)
SELECT id, 1, coach_sub, coach_name, coach_organisation_id, (created_at AT TIME ZONE 'Europe/Brussels')::date
FROM families WHERE coach_sub IS NOT NULL;

-- ---- waiting items --------------------------------------------------------

-- Recomputes the family's bridging spells from its items: an item keeps the
-- family waiting from `since` up to the day before care started or the
-- wait ended, whichever came first; overlapping or touching spells merge.
CREATE FUNCTION g1p_bridging_refresh(fid uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  reg text := (SELECT region FROM families WHERE id = fid);
  cur_from date;
  cur_to date;
  it record;
BEGIN
  DELETE FROM family_bridging WHERE family_id = fid;
  FOR it IN SELECT since AS a, least(started_on, ended_on) AS b FROM family_waits
            WHERE family_id = fid AND (least(started_on, ended_on) IS NULL OR least(started_on, ended_on) > since)
            ORDER BY since LOOP
    IF cur_from IS NULL THEN
      cur_from := it.a;
      cur_to := it.b;
    ELSIF cur_to IS NOT NULL AND it.a > cur_to THEN
      INSERT INTO family_bridging (family_id, region, from_on, to_on) VALUES (fid, reg, cur_from, cur_to);
      cur_from := it.a;
      cur_to := it.b;
    ELSIF cur_to IS NOT NULL THEN
      cur_to := CASE WHEN it.b IS NULL THEN NULL ELSE greatest(cur_to, it.b) END;
    END IF;
  END LOOP;
  IF cur_from IS NOT NULL THEN
    INSERT INTO family_bridging (family_id, region, from_on, to_on) VALUES (fid, reg, cur_from, cur_to);
  END IF;
END
$$;

-- family_waits follows families.waiting_for (items are matched by id).
-- ended_on is the day of the write that first set `ended`; it stays while
-- `ended` stays set (also when it changes between reasons) and goes when
-- `ended` is cleared.
CREATE FUNCTION g1p_sync_waits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM family_waits w WHERE w.family_id = NEW.id
    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(NEW.waiting_for) e WHERE (e ->> 'id')::uuid = w.item_id);
  INSERT INTO family_waits AS w (family_id, item_id, region, since, started_on, ended, ended_on)
  SELECT NEW.id, (e ->> 'id')::uuid, NEW.region, (e ->> 'since')::date, (e ->> 'started_on')::date, e ->> 'ended',
         CASE WHEN e ->> 'ended' IS NOT NULL THEN g1p_today() END
  FROM jsonb_array_elements(NEW.waiting_for) e
  ON CONFLICT (family_id, item_id) DO UPDATE SET since = EXCLUDED.since, started_on = EXCLUDED.started_on, ended = EXCLUDED.ended,
    ended_on = CASE WHEN EXCLUDED.ended IS NULL THEN NULL ELSE coalesce(w.ended_on, EXCLUDED.ended_on) END;
  PERFORM g1p_bridging_refresh(NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER families_waits_insert AFTER INSERT ON families FOR EACH ROW EXECUTE FUNCTION g1p_sync_waits();
CREATE TRIGGER families_waits_update AFTER UPDATE OF waiting_for ON families FOR EACH ROW
  WHEN (OLD.waiting_for IS DISTINCT FROM NEW.waiting_for) EXECUTE FUNCTION g1p_sync_waits();

-- ---- coach history --------------------------------------------------------

-- A change of coach is a change of sub or of organisation; a new name for
-- the same coach (a correction, or erasure) is not. Nobody else sets
-- coach_periods.
CREATE FUNCTION g1p_count_coaches() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.coach_periods := (NEW.coach_sub IS NOT NULL)::int;
  ELSIF NEW.coach_sub IS NOT NULL AND (OLD.coach_sub IS DISTINCT FROM NEW.coach_sub
                                       OR OLD.coach_organisation_id IS DISTINCT FROM NEW.coach_organisation_id) THEN
    NEW.coach_periods := OLD.coach_periods + 1;
  ELSE
    NEW.coach_periods := OLD.coach_periods;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER families_coach_count BEFORE INSERT OR UPDATE ON families FOR EACH ROW EXECUTE FUNCTION g1p_count_coaches();

-- Closes the current period when the coach is replaced or removed and opens
-- the next (numbered by coach_periods); a new name only renames the
-- current period.
CREATE FUNCTION g1p_record_coach() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.coach_sub IS NOT DISTINCT FROM NEW.coach_sub
     AND OLD.coach_organisation_id IS NOT DISTINCT FROM NEW.coach_organisation_id THEN
    UPDATE family_coaches SET name = NEW.coach_name WHERE family_id = NEW.id AND to_on IS NULL AND NEW.coach_name IS NOT NULL;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    UPDATE family_coaches SET to_on = g1p_today() WHERE family_id = NEW.id AND to_on IS NULL;
  END IF;
  IF NEW.coach_sub IS NOT NULL THEN
    INSERT INTO family_coaches (family_id, period, sub, name, organisation_id, from_on)
    VALUES (NEW.id, NEW.coach_periods, NEW.coach_sub, NEW.coach_name, NEW.coach_organisation_id, g1p_today());
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER families_coach_insert AFTER INSERT ON families FOR EACH ROW EXECUTE FUNCTION g1p_record_coach();
CREATE TRIGGER families_coach_update AFTER UPDATE OF coach_sub, coach_name, coach_organisation_id ON families FOR EACH ROW
  WHEN (OLD.coach_sub IS DISTINCT FROM NEW.coach_sub OR OLD.coach_name IS DISTINCT FROM NEW.coach_name
        OR OLD.coach_organisation_id IS DISTINCT FROM NEW.coach_organisation_id)
  EXECUTE FUNCTION g1p_record_coach();

-- ---- erasure --------------------------------------------------------------
-- As in 007_privacy.sql, and the coach history's names go too (every period
-- reads `erased`, like the coach's name). Waiting items keep their dates
-- (family_waits, family_bridging): no text, and every metric stays the same.
CREATE OR REPLACE FUNCTION g1p_erase_family(fid uuid, why text, note text, who text) RETURNS boolean
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
  UPDATE family_coaches SET name = 'erased' WHERE family_id = fid AND name <> 'erased';
  INSERT INTO erasures (resource, resource_id, reason, note, erased_by) VALUES ('family', fid, why, note, who);
  PERFORM set_config('g1p.erasing', 'off', true);
  RETURN true;
END
$$;

-- The spells of existing families: no item has started or ended yet, so a
-- family with items waits in one spell from its earliest since (what
-- g1p_bridging_refresh would give, set-wise: one call per family would plan
-- its statements against the still empty table and scan it every time).
INSERT INTO family_bridging (family_id, region, from_on)
SELECT family_id, region, min(since) FROM family_waits GROUP BY family_id, region;
-- Statistics now, so that the triggers' statements are planned on the
-- tables as they are (an index probe per family), not as empty ones.
ANALYZE families, family_waits, family_bridging, family_coaches;

-- A coach period as the API shows it (GET /v1/families/{id}/coaches and the
-- family's export).
CREATE VIEW family_coach_docs AS
  SELECT c.family_id, c.period, row_to_json(x) AS doc
  FROM family_coaches c CROSS JOIN LATERAL (SELECT
    c.sub, c.name, c.organisation_id, c.from_on AS "from", c.to_on AS "to") x;
