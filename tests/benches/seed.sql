-- Seeds a migrated PostgreSQL gatehouse database with a realistic amount of data, straight
-- into its tables: :users accounts, :sessions sessions (half expired, each with a refresh
-- token) and :audit audit events, spread over the past year, with time-ordered ids as
-- gatehouse makes them. Every seeded account has the
-- password hash :'hash' (one argon2id hash, reused).
--   psql URL -v users=N -v sessions=N -v audit=N -v hash=HASH -f seed.sql
SET synchronous_commit = off;
\timing on

-- Seeded accounts' ids are made from their number, so sessions and events can name one.
CREATE FUNCTION pg_temp.seeded(n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$;
-- A version 7 UUID for the time `at`, as gatehouse makes its ids.
CREATE FUNCTION pg_temp.uuid7(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE
    AS $$ SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
                  || substr(md5(random()::text), 1, 3) || '8'
                  || substr(md5(random()::text), 1, 15))::uuid $$;

INSERT INTO users (id, email, full_name, role, is_active, is_verified, password_hash,
                   password_changed_at, created_at, updated_at, credential_version)
SELECT pg_temp.seeded(i), 'user' || i || '@seed.example.com', 'Seeded Person ' || i,
       CASE WHEN i % 1000 = 0 THEN 'admin' ELSE 'user' END, i % 100 <> 0, true, :'hash',
       at, at, at, 0
FROM (SELECT i, now() - (:users - i) * interval '30 seconds' AS at
      FROM generate_series(1, :users) i) seeded;

-- Sessions opened over the past 60 days, oldest first, each for 30 days: the older half
-- has expired.
INSERT INTO sessions (id, user_id, scope, created_at, last_used_at, idle_expires_at,
                      absolute_expires_at, user_agent, ip, credential_version, kind, amr,
                      authenticated_at, resources)
SELECT pg_temp.uuid7(made), pg_temp.seeded(1 + floor(random() * :users)::bigint),
       'me todos:read todos:write', made, made, made + interval '30 days',
       made + interval '30 days', 'seed/1.0', '203.0.113.7', 0, 'api', 'pwd', made, ''
FROM (SELECT now() - (:sessions - i) * (interval '60 days' / :sessions) AS made
      FROM generate_series(1, :sessions) i) seeded;

INSERT INTO refresh_tokens (token_hash, session_id, created_at, rotated_at)
SELECT md5(id::text || 'a') || md5(id::text || 'b'), id, created_at, NULL
FROM sessions WHERE ip = '203.0.113.7';

INSERT INTO audit_events (id, kind, user_id, actor_id, ip, user_agent, detail, created_at)
SELECT pg_temp.uuid7(now() - (:audit - i) * interval '6 seconds'),
       (ARRAY['login_succeeded', 'login_succeeded', 'login_succeeded', 'login_succeeded',
              'login_succeeded', 'token_refreshed', 'token_refreshed', 'token_refreshed',
              'login_failed', 'logout'])[1 + i % 10],
       CASE WHEN i % 10 = 0 THEN NULL ELSE pg_temp.seeded(1 + floor(random() * :users)::bigint) END,
       NULL, '203.0.113.7', 'seed/1.0', NULL, now() - (:audit - i) * interval '6 seconds'
FROM generate_series(1, :audit) i;

VACUUM ANALYZE users;
VACUUM ANALYZE sessions;
VACUUM ANALYZE refresh_tokens;
VACUUM ANALYZE audit_events;
