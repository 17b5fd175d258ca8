-- Families and their one family plan.
--
-- "One family, one plan" holds by construction: the plan's primary key is
-- the family id. Every accepted write of a plan is kept as an immutable
-- snapshot in plan_versions (same transaction), so no version is ever lost.

CREATE TABLE families (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  region text NOT NULL REFERENCES regions (code),
  label text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 100),
  coach_sub text CHECK (char_length(coach_sub) BETWEEN 1 AND 255),
  coach_name text CHECK (char_length(coach_name) BETWEEN 1 AND 200),
  coach_organisation_id uuid REFERENCES organisations (id),
  waiting_for jsonb NOT NULL DEFAULT '[]',
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CHECK ((coach_sub IS NULL) = (coach_name IS NULL))
);
CREATE INDEX families_region ON families (region, id);
CREATE INDEX families_coach ON families (coach_sub) WHERE coach_sub IS NOT NULL;
CREATE INDEX families_coach_org ON families (coach_organisation_id) WHERE coach_organisation_id IS NOT NULL;
CREATE TRIGGER families_touch BEFORE UPDATE ON families FOR EACH ROW EXECUTE FUNCTION g1p_touch();

-- A referral leads to at most one family (one column); a family collects
-- any number of referrals.
ALTER TABLE referrals ADD CONSTRAINT referrals_family_fkey FOREIGN KEY (family_id) REFERENCES families (id);
CREATE INDEX referrals_family ON referrals (family_id) WHERE family_id IS NOT NULL;

CREATE TABLE plans (
  family_id uuid PRIMARY KEY REFERENCES families (id),
  content jsonb NOT NULL,            -- family_question, strengths, goals, actions, participants, next_review_on
  agreed_by_family_on date,
  agreed_version integer,
  updated_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE TRIGGER plans_touch BEFORE UPDATE ON plans FOR EACH ROW EXECUTE FUNCTION g1p_touch();
-- Partner organisations see the plans they take part in.
CREATE INDEX plans_participants ON plans USING gin ((content -> 'participants') jsonb_path_ops);

CREATE TABLE plan_versions (
  family_id uuid NOT NULL REFERENCES plans (family_id),
  version integer NOT NULL,
  doc jsonb NOT NULL,                -- the plan's representation at that version
  changed_by text NOT NULL,
  changed_at timestamptz NOT NULL,
  PRIMARY KEY (family_id, version)
);

-- Versions are immutable: no UPDATE or DELETE, whoever asks.
CREATE FUNCTION g1p_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER plan_versions_immutable BEFORE UPDATE OR DELETE ON plan_versions FOR EACH ROW EXECUTE FUNCTION g1p_immutable();

CREATE VIEW plan_docs AS
  SELECT p.family_id, p.version, p.content, row_to_json(x) AS doc
  FROM plans p CROSS JOIN LATERAL (SELECT
    p.family_id,
    p.content -> 'family_question' AS family_question,
    coalesce(p.content -> 'strengths', '[]') AS strengths,
    coalesce(p.content -> 'goals', '[]') AS goals,
    coalesce(p.content -> 'actions', '[]') AS actions,
    coalesce(p.content -> 'participants', '[]') AS participants,
    p.agreed_by_family_on, p.agreed_version,
    p.content -> 'next_review_on' AS next_review_on,
    p.updated_by,
    g1p_ts(p.created_at) AS created_at, g1p_ts(p.updated_at) AS updated_at, p.version) x;

CREATE VIEW family_docs AS
  SELECT f.id, f.region, f.coach_sub, f.coach_organisation_id, f.version, row_to_json(x) AS doc
  FROM families f CROSS JOIN LATERAL (SELECT
    f.id, f.region, f.label,
    CASE WHEN f.coach_sub IS NULL THEN NULL ELSE
      (SELECT row_to_json(c) FROM (SELECT f.coach_sub AS sub, f.coach_name AS name, f.coach_organisation_id AS organisation_id) c) END AS coach,
    coalesce((SELECT json_agg(r.id ORDER BY r.received_on, r.id) FROM referrals r WHERE r.family_id = f.id), '[]'::json) AS referral_ids,
    f.waiting_for,
    (SELECT p.version FROM plans p WHERE p.family_id = f.id) AS plan_version,
    g1p_ts(f.created_at) AS created_at, g1p_ts(f.updated_at) AS updated_at, f.version) x;
