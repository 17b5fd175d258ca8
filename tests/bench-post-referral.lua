-- wrk script for tests/bench.sh: every request pushes a new referral (no
-- external_ref, so none is an idempotent repeat).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"region":"gent","referrer":{"kind":"self"},"question":"Benchmark referral",' ..
           '"question_kind":"consult","family":{"label":"Gezin B.","postcode":"9000","children":[{"birth_year":2016}]}}'
