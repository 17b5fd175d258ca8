-- The audit trail: one row per successful write (and per read of a family
-- plan, which a family may ask about under the GDPR), inserted by the API in
-- the same transaction as the change. Rows are never changed or removed.
CREATE TABLE audit_log (
  seq bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  sub text NOT NULL,
  org uuid,
  action text NOT NULL,
  resource text NOT NULL CHECK (resource IN ('region', 'organisation', 'referral', 'family', 'plan')),
  resource_id text NOT NULL,
  family_id uuid,      -- set for family and plan rows: a family's own access log
  version integer,     -- the resource's version after the change (or the version read)
  request_id text NOT NULL
);
CREATE INDEX audit_log_resource ON audit_log (resource, resource_id, seq);
CREATE INDEX audit_log_sub ON audit_log (sub, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_family ON audit_log (family_id, seq) WHERE family_id IS NOT NULL;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION g1p_immutable();

CREATE VIEW audit_docs AS
  SELECT a.seq, a.at, a.sub, a.resource, a.resource_id, a.family_id, row_to_json(x) AS doc
  FROM audit_log a CROSS JOIN LATERAL (SELECT
    a.seq, g1p_ts(a.at) AS at, a.sub, a.org, a.action, a.resource, a.resource_id, a.version, a.request_id) x;
