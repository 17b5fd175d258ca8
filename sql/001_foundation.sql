-- Foundation: shared helpers, partner organisations and regions.
-- Every resource row carries created_at, updated_at and version; the touch
-- trigger keeps them honest on every UPDATE so no handler can forget.

CREATE FUNCTION g1p_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION g1p_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  NEW.created_at := OLD.created_at;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE organisations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  sector text NOT NULL CHECK (sector IN ('caw', 'kind_en_gezin', 'cgg', 'vaph', 'jeugdhulp', 'clb', 'ocmw', 'onderwijs', 'other')),
  kbo_number text CHECK (kbo_number ~ '^[01][0-9]{9}$'),
  email text CHECK (char_length(email) <= 254),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT organisations_kbo_number_key UNIQUE (kbo_number)
);
CREATE INDEX organisations_name_id ON organisations (name, id);
CREATE TRIGGER organisations_touch BEFORE UPDATE ON organisations FOR EACH ROW EXECUTE FUNCTION g1p_touch();

CREATE TABLE regions (
  code text PRIMARY KEY CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(code) BETWEEN 2 AND 64),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  province text NOT NULL CHECK (province IN ('Antwerpen', 'Limburg', 'Oost-Vlaanderen', 'Vlaams-Brabant', 'West-Vlaanderen', 'Brussel')),
  core_partner uuid CONSTRAINT regions_core_partner_fkey REFERENCES organisations (id),
  annual_family_target integer NOT NULL DEFAULT 200 CHECK (annual_family_target BETWEEN 0 AND 100000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1
);
CREATE TRIGGER regions_touch BEFORE UPDATE ON regions FOR EACH ROW EXECUTE FUNCTION g1p_touch();

CREATE TABLE organisation_regions (
  organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
  region_code text NOT NULL REFERENCES regions (code),
  PRIMARY KEY (organisation_id, region_code)
);
CREATE INDEX organisation_regions_region ON organisation_regions (region_code, organisation_id);

-- The representation of each resource is built here, next to its table, so
-- every endpoint answers the same shape. Views (not functions) so that the
-- planner inlines them and a prepared statement plans them once.
CREATE VIEW region_docs AS
  SELECT g.code, g.version, row_to_json(x) AS doc
  FROM regions g CROSS JOIN LATERAL (SELECT
    g.code, g.name, g.province, g.core_partner, g.annual_family_target,
    g1p_ts(g.created_at) AS created_at, g1p_ts(g.updated_at) AS updated_at, g.version) x;

CREATE VIEW organisation_docs AS
  SELECT o.id, o.name, o.sector, o.version, row_to_json(x) AS doc
  FROM organisations o CROSS JOIN LATERAL (SELECT
    o.id, o.name, o.sector, o.kbo_number,
    coalesce((SELECT json_agg(m.region_code ORDER BY m.region_code)
              FROM organisation_regions m WHERE m.organisation_id = o.id), '[]'::json) AS regions,
    o.email, g1p_ts(o.created_at) AS created_at, g1p_ts(o.updated_at) AS updated_at, o.version) x;

INSERT INTO regions (code, name, province) VALUES
  ('gent', 'Samen1Plan Gent', 'Oost-Vlaanderen'),
  ('meetjesland', 'RTJ De Tafels (Meetjesland)', 'Oost-Vlaanderen'),
  ('waas-en-dender', 'Krachtgericht RTJ Waas en Dender', 'Oost-Vlaanderen'),
  ('plan-trekkers', 'Plan-trekkers (OCMW Genk)', 'Limburg'),
  ('oost-brabant', '1Gezin-1Plan Oost-Brabant', 'Vlaams-Brabant'),
  ('voor-en-noorderkempen', '1G1P Voor- en Noorderkempen', 'Antwerpen');
