-- Test data generator: referrals with realistic shapes, straight into the
-- tables (the API is measured elsewhere; this is the data it reads).
--   psql -v n=100000 -v regions=16 -v years=10 -f tests/data/generate.sql
-- n referrals received over the last `years` years, spread over `regions`
-- regions (created as gen-NN when fewer exist). Per referral, by a uniform
-- draw u: 3% withdrawn before contact; 2% never contacted (overdue once a
-- month has passed); the rest contacted after a delay that is mostly within
-- the month (about 12% late), then in trajectory or closed. Referrals of the
-- last 20 days mostly wait for their first contact.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

INSERT INTO regions (code, name, province)
SELECT format('gen-%s', lpad(i::text, 2, '0')), format('Generated region %s', i), 'Antwerpen'
FROM generate_series(1, greatest(:regions - (SELECT count(*) FROM regions), 0)) i
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE gen_regions AS
SELECT row_number() OVER (ORDER BY code) - 1 AS idx, code FROM (SELECT code FROM regions ORDER BY code LIMIT :regions) r;

INSERT INTO referrals (region, referrer_kind, content_hash, received_on, question, question_kind,
                       family_label, family_postcode, family_children, status, first_contact_on, first_contact_mode,
                       closed_on, outcome, created_by)
SELECT g.code, (ARRAY['organisation', 'school', 'self', 'other'])[1 + (i % 4)], md5(i::text), x.received,
       'Generated referral', (ARRAY['consult', 'short_trajectory', 'bridging', 'coordination', 'unclear'])[1 + (i % 5)],
       'Gezin ' || i, (1000 + (i % 8999))::text, jsonb_build_array(jsonb_build_object('birth_year', 2010 + (i % 14))),
       CASE WHEN x.u < 0.03 THEN 'withdrawn'
            WHEN x.u < 0.05 OR x.received + x.delay > g1p_today() THEN 'received'
            WHEN x.u < 0.50 THEN 'closed'
            WHEN x.u < 0.80 THEN 'in_trajectory'
            ELSE 'contacted' END,
       CASE WHEN x.u < 0.05 OR x.received + x.delay > g1p_today() THEN NULL ELSE x.received + x.delay END,
       CASE WHEN x.u < 0.05 OR x.received + x.delay > g1p_today() THEN NULL ELSE (ARRAY['home', 'office', 'phone', 'video'])[1 + (i % 4)] END,
       CASE WHEN x.u < 0.03 THEN least(x.received + 5, g1p_today())
            WHEN x.u >= 0.05 AND x.u < 0.50 AND x.received + x.delay + 120 <= g1p_today() THEN x.received + x.delay + 120 END,
       CASE WHEN x.u >= 0.05 AND x.u < 0.50 AND x.received + x.delay + 120 <= g1p_today() THEN 'back_on_track' END,
       'generator'
FROM generate_series(1, :n) i
-- (each expression mentions i so that the lateral query runs once per row)
CROSS JOIN LATERAL (SELECT g1p_today() - (random() * 365.25 * :years + 0 * i)::int AS received, random() + 0 * i AS u,
                           -- delay in days: mostly 3..30, a tail up to 60
                           (CASE WHEN random() + 0 * i < 0.88 THEN 3 + random() * 27 ELSE 31 + random() * 29 END)::int AS delay) x
JOIN gen_regions g ON g.idx = i % :regions;

-- Closed referrals need an outcome; the generator only closes those it gave one.
UPDATE referrals SET status = 'in_trajectory' WHERE status = 'closed' AND outcome IS NULL AND created_by = 'generator';
ANALYZE referrals;
