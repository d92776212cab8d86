-- The job database as the first release's embedded store wrote it (PRAGMA user_version = 1).
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,              -- insertion order: breaks ties between equal created_at
    id TEXT NOT NULL UNIQUE,
    adapter TEXT NOT NULL,
    user_id TEXT,
    guild_id TEXT,
    channel_id TEXT,
    display_name TEXT,
    request TEXT NOT NULL,                -- JSON
    parameters TEXT NOT NULL,             -- JSON
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL,
    usage_images INTEGER NOT NULL DEFAULT 0,
    usage_output_tokens INTEGER NOT NULL DEFAULT 0,
    usage_total_tokens INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_kind TEXT,
    created_at TEXT NOT NULL,             -- fixed-width UTC ISO 8601: text order is time order
    started_at TEXT,
    finished_at TEXT,
    parent_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',     -- JSON
    owner_host TEXT,                      -- pids are only comparable on the same host / pid namespace
    owner_pid INTEGER,
    owner_start TEXT,                     -- the owner's OS start time, to detect a recycled pid
    owner_token TEXT                      -- random per process, to detect an earlier incarnation of our pid
);
CREATE INDEX jobs_by_time ON jobs (created_at, seq);
CREATE INDEX jobs_by_user ON jobs (user_id, created_at);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running');
CREATE TABLE job_images (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    format TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    seed INTEGER,
    source_url TEXT,
    url_expires_at TEXT,                  -- ISO 8601 with the offset it was given
    sidecar_path TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE job_failures (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_failures_by_job ON job_failures (job_id, idx);
CREATE TABLE quotas (
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (key, day)
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
