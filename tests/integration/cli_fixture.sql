-- cli_fixture.sql: known data for the reporting tests (cli_views.sh, cli_report_html.sh).
-- Every figure the tests check is worked out in cli_views.sh from the rows below.

INSERT INTO items (id, dataset, kind, question, category, tags, record, content_hash) VALUES
 (1, 'ds', 'open', 'q1', '药物', '{a,b}', '{"intent": "用药"}', 'h1'),
 (2, 'ds', 'open', 'q2', '药物', '{a}',   '{"intent": "诊断"}', 'h2'),
 (3, 'ds', 'open', 'q3', '手术', '{}',    '{}',                 'h3'),
 (4, 'ds', 'open', 'q4', NULL,   '{b}',   '{"intent": "用药"}', 'h4');
SELECT setval('items_id_seq', 100);

INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES
 (1, 'fixture', 'ds', '{}', 'spec1'),
 (2, 'empty', 'ds2', '{}', 'spec2');
SELECT setval('jobs_id_seq', 100);
INSERT INTO job_items VALUES (1, 1), (1, 2), (1, 3), (1, 4);

INSERT INTO stages (id, job_id, idx, name, kind, round) VALUES
 (1, 1, 0, 'gen', 'generate', 1),
 (2, 1, 1, 'ver', 'verify', 1),
 (3, 1, 2, 'gen2', 'generate', 2),
 (4, 1, 3, 'leak', 'leak_removal', 1),
 (5, 2, 0, 'only', 'noop', 1);
SELECT setval('stages_id_seq', 100);

INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt, worker, last_error,
                   started_at, finished_at, elapsed_ms) VALUES
 (1, 1, 1, 1, 'generate', 'done', 1, 'w1', NULL, '2026-01-01 10:00:00+00', '2026-01-01 10:00:01+00', 100),
 (2, 1, 1, 2, 'generate', 'done', 3, 'w1', 'endpoint timeout: after 30s', '2026-01-01 10:00:01+00', '2026-01-01 10:00:02+00', 200),
 (3, 1, 1, 3, 'generate', 'done', 1, 'w2', NULL, '2026-01-01 10:00:02+00', '2026-01-01 10:00:04+00', 300),
 (4, 1, 1, 4, 'generate', 'dead', 5, 'w2', 'http 500: bad gateway', '2026-01-01 10:00:02+00', '2026-01-01 10:00:03+00', NULL),
 (5, 1, 2, 1, 'verify', 'done', 1, 'w2', NULL, '2026-01-01 10:00:03+00', '2026-01-01 10:00:03.5+00', 10),
 (6, 1, 2, 2, 'verify', 'done', 1, 'w2', NULL, '2026-01-01 10:00:03+00', '2026-01-01 10:00:04+00', 20),
 (7, 1, 2, 3, 'verify', 'pending', 2, 'w1', 'endpoint timeout: again', NULL, NULL, NULL),
 (8, 1, 3, 1, 'generate', 'done', 1, 'w1', NULL, '2026-01-01 10:00:05+00', '2026-01-01 10:00:10+00', 400),
 (9, 1, 4, 1, 'leak_removal', 'done', 1, 'w1', NULL, '2026-01-01 10:00:05+00', '2026-01-01 10:00:06+00', 5),
 (10, 1, 4, 2, 'leak_removal', 'done', 1, 'w1', NULL, '2026-01-01 10:00:05+00', '2026-01-01 10:00:06+00', 7),
 (11, 1, 4, 3, 'leak_removal', 'cancelled', 0, NULL, NULL, NULL, NULL, NULL);
SELECT setval('tasks_id_seq', 100);

INSERT INTO task_outputs (task_id, job_id, stage_id, item_id, attempt, worker, output) VALUES
 (1, 1, 1, 1, 1, 'w1', '{"x": 1}'),
 (9, 1, 4, 1, 1, 'w1', '{"removed": [{"span": "肺炎", "reason": "diagnosis"}, {"span": "J18", "reason": "code"}], "residual_leak": 0.2, "residual_flagged": false}'),
 (10, 1, 4, 2, 1, 'w1', '{"removed": [{"span": "哮喘", "reason": "diagnosis"}], "residual_leak": 0.6, "residual_flagged": true}');

INSERT INTO samples (id, task_id, job_id, stage_id, item_id, idx, answer, endpoint, model,
                     prompt_tokens, completion_tokens, reasoning_tokens, cost_usd, cached, created_at) VALUES
 (1, 1, 1, 1, 1, 0, 'a', 'sim', 'm1', 100, 50, 10, 0.01, false, '2026-01-01 12:00:00+00'),
 (2, 1, 1, 1, 1, 1, 'b', 'sim', 'm1', 100, 50, 10, 0.01, false, '2026-01-01 12:00:00+00'),
 (3, 1, 1, 1, 1, 2, 'c', 'sim', 'm1', 100, 50, 10, 0.01, false, '2026-01-01 12:00:00+00'),
 (4, 1, 1, 1, 1, 3, 'd', 'sim', 'm1', 100, 50, 0, 0, true, '2026-01-01 12:00:00+00'),
 (5, 2, 1, 1, 2, 0, 'e', 'o3', 'm2', 200, 100, 80, 0.05, false, '2026-01-02 12:00:00+00'),
 (6, 2, 1, 1, 2, 1, 'f', 'o3', 'm2', 200, 100, 80, 0.05, false, '2026-01-02 12:00:00+00'),
 (7, 3, 1, 1, 3, 0, 'g', 'sim', 'm1', 100, 50, 10, 0.01, false, '2026-01-02 12:00:00+00'),
 (8, 8, 1, 3, 1, 0, 'h', 'o3', 'm2', 200, 100, 80, 0.05, false, '2026-01-02 12:00:00+00'),
 (9, 8, 1, 3, 1, 1, 'i', 'o3', 'm2', 200, 100, 80, 0.05, false, '2026-01-02 12:00:00+00');
SELECT setval('samples_id_seq', 100);

INSERT INTO scores (sample_id, job_id, item_id, scorer, value, detail) VALUES
 (1, 1, 1, 'verify', 1.0, '{"correct": true}'),
 (2, 1, 1, 'verify', 0.8, '{"correct": false}'),
 (3, 1, 1, 'verify', 0.3, NULL),
 (4, 1, 1, 'verify', 0.6, '{}'),
 (5, 1, 2, 'verify', 0.0, '{"correct": true}'),
 (6, 1, 2, 'verify', 1.0, NULL),
 (7, 1, 3, 'outcome', 0.7, NULL),
 (8, 1, 1, 'verify', 0.0, NULL);

INSERT INTO datasets (id, job_id, name, format, path, rows, lineage) VALUES
 (1, 1, 'fixture/gen', 'samples', '/tmp/gen.jsonl', 7, '{"job": 1, "stage": "gen"}'),
 (2, 1, 'fixture/leak', 'outputs', '/tmp/leak.jsonl', 2, '{"job": 1, "stage": "leak"}');
SELECT setval('datasets_id_seq', 100);

INSERT INTO workers (name, slots, last_seen, connected, done, failed) VALUES
 ('w1', '{"generate": 8, "verify": 4}', now(), true, 120, 3),
 ('w2', '{"noop": 2}', now() - interval '5 minutes', true, 7, 0),
 ('w3', '{}', now() - interval '2 hours', false, 1, 1),
 ('w4', '{}', now() - interval '3 days', false, 0, 0);

-- the broker claimed every item of job 1's first stage (its tasks exist above)
UPDATE stages s SET claimed_seq = (SELECT max(seq) FROM job_items ji WHERE ji.job_id = s.job_id)
WHERE s.job_id = 1 AND s.idx = 0;
