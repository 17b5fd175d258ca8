-- The change feed's history. Feed positions (seq) are only comparable within
-- one database history: a point-in-time restore, or a failover that lost
-- committed transactions, brings positions back that readers may already
-- have seen with other changes. So cursors name the history they come from:
-- the cluster's system identifier and its WAL timeline (a restore or a
-- promotion starts a new one). Each timeline is recorded the first time the
-- feed is read on it, with the highest position then present: where it
-- branched off. A cursor of an older timeline is still good up to that
-- branch point; past it, it points into a lost future (410: resync).
CREATE TABLE feed_timelines (
  system_id text NOT NULL,
  timeline integer NOT NULL,
  branch_seq bigint NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (system_id, timeline)
);

-- "<system id>.<timeline>" of this database now, recording a new timeline.
CREATE FUNCTION g1p_feed_history() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  sid text := (SELECT system_identifier::text FROM pg_control_system());
  tl integer := ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int;
BEGIN
  INSERT INTO feed_timelines (system_id, timeline, branch_seq)
  VALUES (sid, tl, coalesce((SELECT max(seq) FROM changes), 0))
  ON CONFLICT DO NOTHING;
  RETURN sid || '.' || tl;
END
$$;

-- Whether a cursor of (sid, tl, seq) still names a position of this history.
CREATE FUNCTION g1p_feed_cursor_ok(sid text, tl integer, pos bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT sid = (SELECT system_identifier::text FROM pg_control_system())
    AND tl <= ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
    AND pos <= coalesce((SELECT min(t.branch_seq) FROM feed_timelines t WHERE t.system_id = sid AND t.timeline > tl), pos)
$$;
