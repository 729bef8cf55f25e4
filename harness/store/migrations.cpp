#include "harness/store/migrations.h"

namespace usbench {

const std::vector<std::string>& store_migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: the initial schema.
      R"sql(
CREATE TABLE experiments (
  name        TEXT PRIMARY KEY,
  version     INTEGER NOT NULL,
  spec_json   TEXT NOT NULL,
  spec_hash   TEXT NOT NULL,
  updated_ms  INTEGER NOT NULL
);
CREATE TABLE datasets (
  name          TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,
  source        TEXT NOT NULL,
  config_json   TEXT NOT NULL,
  manifest_hash TEXT NOT NULL,
  created_ms    INTEGER NOT NULL
);
CREATE TABLE clips (
  dataset     TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  clip_id     TEXT NOT NULL,
  path        TEXT NOT NULL,
  label       TEXT,
  grp         TEXT NOT NULL,
  n_frames    INTEGER NOT NULL CHECK (n_frames > 0),
  source_fps  REAL,
  sha256      TEXT NOT NULL,
  sampling    TEXT NOT NULL,
  PRIMARY KEY (dataset, clip_id)
);
CREATE TABLE splits (
  dataset         TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  k               INTEGER NOT NULL CHECK (k >= 2),
  seed            INTEGER,
  source          TEXT NOT NULL,
  assignment_hash TEXT NOT NULL,
  created_ms      INTEGER NOT NULL,
  PRIMARY KEY (dataset, name)
);
CREATE TABLE folds (
  dataset TEXT NOT NULL,
  split   TEXT NOT NULL,
  clip_id TEXT NOT NULL,
  fold    INTEGER NOT NULL CHECK (fold >= 0),
  PRIMARY KEY (dataset, split, clip_id),
  FOREIGN KEY (dataset, split) REFERENCES splits(dataset, name) ON DELETE CASCADE
);
CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  experiment       TEXT NOT NULL,
  method           TEXT NOT NULL,
  protocol         TEXT NOT NULL DEFAULT '',
  stage            TEXT NOT NULL CHECK (stage IN ('pretrain', 'finetune', 'probe')),
  fold             INTEGER,
  seed             INTEGER NOT NULL,
  config_json      TEXT NOT NULL,
  config_hash      TEXT NOT NULL,
  protocol_version INTEGER NOT NULL,
  method_version   INTEGER NOT NULL,
  manifest_hash    TEXT NOT NULL,
  fold_hash        TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted')),
  error            TEXT NOT NULL DEFAULT '',
  env_json         TEXT NOT NULL DEFAULT '{}',
  created_ms       INTEGER NOT NULL,
  started_ms       INTEGER,
  finished_ms      INTEGER,
  heartbeat_ms     INTEGER
);
CREATE INDEX runs_by_experiment ON runs(experiment, method, stage, fold);
CREATE TABLE seeds (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  stream TEXT NOT NULL,
  value  INTEGER NOT NULL,
  PRIMARY KEY (run_id, stream)
);
CREATE TABLE metrics (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch       INTEGER NOT NULL,
  split       TEXT NOT NULL,
  name        TEXT NOT NULL,
  value       REAL NOT NULL,
  recorded_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, epoch, split, name)
);
CREATE TABLE predictions (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch       INTEGER NOT NULL,
  clip_id     TEXT NOT NULL,
  frame_index INTEGER NOT NULL,
  label       INTEGER NOT NULL,
  predicted   INTEGER NOT NULL,
  scores_json TEXT NOT NULL,
  PRIMARY KEY (run_id, epoch, clip_id, frame_index)
);
CREATE TABLE artifacts (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind       TEXT NOT NULL,
  epoch      INTEGER NOT NULL,
  path       TEXT NOT NULL,
  sha256     TEXT NOT NULL,
  bytes      INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, kind, epoch)
);
)sql",
      // 2: why a method of an experiment produced no runs (e.g. "not run: weights not supplied").
      R"sql(
CREATE TABLE method_notes (
  experiment TEXT NOT NULL,
  method     TEXT NOT NULL,
  note       TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (experiment, method)
);
)sql",
      // 3: who holds a running run (claims, README Design §7): host, pid and a per-process random token. A run
      // is executed by the process whose token it carries; heartbeats and the final status are written
      // only by that process.
      R"sql(
ALTER TABLE runs ADD COLUMN owner_host  TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner_pid   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN owner_token TEXT NOT NULL DEFAULT '';
)sql",
  };
  return kMigrations;
}

}  // namespace usbench
