-- Retention at scale (g1p-api retention). The lone referrals it looks for
-- are found through a partial index that holds only candidates, so each
-- batch costs the batch and not a scan of every referral; and a batch of them
-- is erased set-wise, in a few statements instead of a few per referral.

CREATE INDEX referrals_retention_due ON referrals (closed_on, id)
  WHERE family_id IS NULL AND erased_on IS NULL AND status IN ('closed', 'withdrawn', 'declined');

-- Erases the referrals of ids that have no family and are not erased yet
-- (the caller holds their row locks); returns those it erased now.
CREATE FUNCTION g1p_erase_referrals(ids uuid[], why text, who text) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('g1p.erasing', 'on', true);
  RETURN QUERY
    WITH e AS (
      UPDATE referrals SET question = NULL, family_label = NULL, family_postcode = NULL, family_children = '[]',
        content_hash = 'erased', erased_on = g1p_today()
      WHERE id = ANY (ids) AND erased_on IS NULL AND family_id IS NULL
      RETURNING id),
    p AS (UPDATE deadline_pauses SET note = NULL WHERE referral_id IN (SELECT id FROM e) AND note IS NOT NULL),
    x AS (INSERT INTO erasures (resource, resource_id, reason, note, erased_by)
          SELECT 'referral', id, why, NULL, who FROM e ON CONFLICT DO NOTHING)
    SELECT id FROM e;
  PERFORM set_config('g1p.erasing', 'off', true);
END
$$;
