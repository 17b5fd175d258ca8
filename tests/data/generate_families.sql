-- Test data generator for bridging and continuity: families started from the
-- referrals tests/data/generate.sql made, with their waiting periods and coach
-- changes, straight into the tables. Run after generate.sql:
--   psql -v share=0.444 -f tests/data/generate_families.sql
-- Proportions (per family by uniform draws):
--   - families: a third of the contacted referrals start one (`share` of
--     those in trajectory or closed, which are three quarters of the
--     contacted: 0.444 gives a third), started 0..14 days after the first
--     contact;
--   - coach: 90% have one from the start; of those about 20% change coach
--     once and 3% twice (a change 30..330 days after the start, the second
--     20..220 days after the first; a change that would lie in the future
--     has not happened yet);
--   - waiting: 15% wait for nothing, 65% for one module, 20% for two (the
--     second a few weeks after the first); of the waits 80% end in care
--     started after 1..6 months (half of them also marked ended "started"),
--     12% end otherwise (no longer needed, other) after 2 weeks..5 months,
--     8% are long waits (care after 6..12 months). A wait whose end lies in
--     the future still runs.
-- The user triggers of families are bypassed (session_replication_role) so
-- that history carries past days instead of today; family_waits,
-- family_coaches and coach_periods are written here, the bridging spells by
-- the same function the triggers use. The referrals are updated through
-- their triggers (their representation names the family).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.42) AS seeded \gset

CREATE TEMP TABLE gen_fam AS
SELECT gen_random_uuid() AS id, r.id AS referral_id, r.region, r.received_on,
       least(r.first_contact_on + (random() * 14)::int, g1p_today()) AS started,
       random() AS u_coach, random() AS u_change, random() AS u_wait
FROM referrals r
WHERE r.created_by = 'generator' AND r.family_id IS NULL AND r.first_contact_on IS NOT NULL
  AND r.status IN ('in_trajectory', 'closed') AND random() < :share;

-- Coach periods: n of them, changes on d1 and d2 (when they have come).
CREATE TEMP TABLE gen_coach AS
SELECT f.id AS family_id, k.period,
       'gen-coach-' || (abs(hashtext(f.id::text || k.period)) % 3000) AS sub,
       'Coach ' || (abs(hashtext(f.id::text || k.period)) % 3000) AS name,
       CASE k.period WHEN 1 THEN f.started WHEN 2 THEN c.d1 ELSE c.d2 END AS from_on,
       CASE WHEN k.period < c.n THEN CASE k.period WHEN 1 THEN c.d1 ELSE c.d2 END END AS to_on,
       c.n
FROM gen_fam f
CROSS JOIN LATERAL (SELECT f.started + 30 + (random() * 300)::int AS d1, f.u_change AS u) a
CROSS JOIN LATERAL (SELECT a.d1, a.d1 + 20 + (random() * 200)::int AS d2,
                           CASE WHEN a.u >= 0.23 OR a.d1 > g1p_today() THEN 1
                                WHEN a.u >= 0.03 OR a.d1 + 20 > g1p_today() THEN 2
                                ELSE 3 END AS n0) b
CROSS JOIN LATERAL (SELECT b.d1, b.d2, CASE WHEN b.n0 = 3 AND b.d2 > g1p_today() THEN 2 ELSE b.n0 END AS n) c
CROSS JOIN LATERAL generate_series(1, c.n) k(period)
WHERE f.u_coach < 0.9;

-- Waiting items: the k-th wait of a family, how it ended and when.
CREATE TEMP TABLE gen_wait AS
SELECT f.id AS family_id, f.region, x.k, gen_random_uuid() AS item_id, x.since,
       (ARRAY['Thuisbegeleiding', 'Contextbegeleiding', 'Psychotherapie', 'Logopedie', 'Dagbegeleiding', 'Residentiële opvang'])[1 + (abs(hashtext(f.id::text || x.k)) % 6)] AS module,
       (ARRAY['jeugdhulp', 'cgg', 'vaph', 'caw', 'kind_en_gezin', 'other'])[1 + (abs(hashtext(f.id::text || x.k)) % 6)] AS sector,
       CASE WHEN x.u < 0.80 THEN 'care' WHEN x.u < 0.88 THEN 'no_longer_needed' WHEN x.u < 0.92 THEN 'other' ELSE 'long' END AS kind,
       x.since + CASE WHEN x.u < 0.80 THEN 30 + (x.v * 150)::int WHEN x.u < 0.92 THEN 15 + (x.v * 135)::int ELSE 180 + (x.v * 185)::int END AS end_day,
       x.mark
FROM gen_fam f
CROSS JOIN LATERAL generate_series(1, CASE WHEN f.u_wait < 0.15 THEN 0 WHEN f.u_wait < 0.80 THEN 1 ELSE 2 END) g(k)
CROSS JOIN LATERAL (SELECT g.k, least(f.started + (random() * 20)::int + (g.k - 1) * (7 + (random() * 40)::int), g1p_today()) AS since,
                           random() AS u, random() AS v, random() AS mark) x;

CREATE TEMP TABLE gen_item AS
SELECT w.family_id, w.region, w.k, w.item_id, w.since, w.module, w.sector,
       CASE WHEN w.kind IN ('care', 'long') AND w.end_day <= g1p_today() THEN w.end_day END AS started_on,
       CASE WHEN w.end_day > g1p_today() THEN NULL
            WHEN w.kind IN ('care', 'long') THEN CASE WHEN w.mark < 0.5 THEN 'started' END
            ELSE w.kind END AS ended
FROM gen_wait w;

-- Each family's waiting list, as the API stores it.
CREATE TEMP TABLE gen_list AS
SELECT family_id, jsonb_agg(jsonb_build_object('id', item_id, 'module', module, 'sector', sector, 'organisation_id', NULL,
                                               'since', since, 'started_on', started_on, 'ended', ended) ORDER BY k) AS items
FROM gen_item GROUP BY family_id;

SET session_replication_role = replica;

INSERT INTO families (id, region, label, coach_sub, coach_name, waiting_for, created_by, created_at, updated_at, coach_periods,
                      referral_received_on)
SELECT f.id, f.region, 'Gezin G-' || left(f.id::text, 8), cur.sub, cur.name,
       coalesce(l.items, '[]'::jsonb),
       'generator', (f.started + time '10:00') AT TIME ZONE 'Europe/Brussels', (f.started + time '10:00') AT TIME ZONE 'Europe/Brussels',
       coalesce(cur.n, 0), f.received_on
FROM gen_fam f
LEFT JOIN gen_coach cur ON cur.family_id = f.id AND cur.to_on IS NULL
LEFT JOIN gen_list l ON l.family_id = f.id;

-- ended_on: the day the wait ended (for care marked "started", the day it started).
INSERT INTO family_waits (family_id, item_id, region, since, started_on, ended, ended_on)
SELECT i.family_id, i.item_id, i.region, i.since, i.started_on, i.ended,
       CASE WHEN i.ended IS NULL THEN NULL WHEN i.started_on IS NOT NULL THEN i.started_on ELSE w.end_day END
FROM gen_item i JOIN gen_wait w ON w.item_id = i.item_id;

INSERT INTO family_coaches (family_id, period, sub, name, organisation_id, from_on, to_on)
SELECT family_id, period, sub, name, NULL, from_on, to_on FROM gen_coach;

-- One call per family; its statements are planned once for the session,
-- while family_bridging is still empty: index scans keep that linear.
ANALYZE families;
ANALYZE family_waits;
SET enable_seqscan = off;
SELECT count(*) AS families_refreshed FROM (SELECT g1p_bridging_refresh(f.id) FROM gen_fam f WHERE f.u_wait >= 0.15) s \gset
RESET enable_seqscan;

RESET session_replication_role;

-- The referral that started each family (through the referral triggers).
UPDATE referrals r SET family_id = f.id, started_family = true FROM gen_fam f WHERE r.id = f.referral_id;

ANALYZE families;
ANALYZE family_waits;
ANALYZE family_bridging;
ANALYZE family_coaches;
ANALYZE referrals;
