/**
 * The schema as numbered migrations. A migration is never edited once released: add the next one.
 * `schema_version` holds one row per applied migration.
 */
export const migrations: ReadonlyArray<ReadonlyArray<string>> = [
  // 1: mailboxes, dropped counters, groups.
  [
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `CREATE TABLE direct_messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      sender TEXT NOT NULL,
      recipient TEXT NOT NULL,
      text TEXT NOT NULL,
      reply_to TEXT,
      urgent INTEGER NOT NULL,
      ts TEXT NOT NULL,
      ts_ms INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'read')),
      notify_read INTEGER NOT NULL,
      client_id TEXT
    )`,
    `CREATE INDEX direct_by_recipient ON direct_messages (recipient, state, seq)`,
    `CREATE INDEX direct_by_sender ON direct_messages (sender)`,
    `CREATE INDEX direct_by_time ON direct_messages (ts_ms)`,
    `CREATE UNIQUE INDEX direct_client_id ON direct_messages (sender, client_id) WHERE client_id IS NOT NULL`,
    `CREATE TABLE dropped (peer TEXT PRIMARY KEY, count INTEGER NOT NULL)`,
    `CREATE TABLE groups (
      name TEXT PRIMARY KEY,
      admin TEXT NOT NULL,
      created_at TEXT NOT NULL,
      last_seq INTEGER NOT NULL DEFAULT 0
    )`,
    `CREATE TABLE group_members (
      grp TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
      member TEXT NOT NULL,
      cursor INTEGER NOT NULL DEFAULT 0,
      joined_at TEXT NOT NULL,
      PRIMARY KEY (grp, member)
    )`,
    `CREATE INDEX group_members_by_member ON group_members (member)`,
    `CREATE TABLE group_messages (
      gid INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      grp TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
      seq INTEGER NOT NULL,
      sender TEXT NOT NULL,
      text TEXT NOT NULL,
      ts TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('message', 'system')),
      client_id TEXT,
      UNIQUE (grp, seq)
    )`,
    `CREATE UNIQUE INDEX group_client_id ON group_messages (grp, sender, client_id) WHERE client_id IS NOT NULL`
  ],
  // 2: eviction and counting walk a recipient's messages by seq, whatever their state.
  [`CREATE INDEX direct_by_recipient_seq ON direct_messages (recipient, seq)`],
  // 3: fewer indexes to maintain on every insert and eviction. Unread paging, eviction and counting
  // all go by (recipient, seq) (a mailbox holds at most a few hundred rows, so filtering by state
  // there is cheap); renames, the only sender-wide updates, are rare enough to scan.
  [`DROP INDEX direct_by_recipient`, `DROP INDEX direct_by_sender`],
  // 4: the cheapest insert. `id` (m_<epoch>_<seq base 36>) and `ts` (ISO of `ts_ms`) follow from
  // the other columns, so they are no longer stored; that also drops the UNIQUE index on `id`,
  // which SQLite cannot drop without rebuilding the table. The AUTOINCREMENT high-water mark is
  // carried over, so no seq (and no id) is ever handed out twice.
  [
    `CREATE TABLE direct_messages_v4 (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      sender TEXT NOT NULL,
      recipient TEXT NOT NULL,
      text TEXT NOT NULL,
      reply_to TEXT,
      urgent INTEGER NOT NULL,
      ts_ms INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'read')),
      notify_read INTEGER NOT NULL,
      client_id TEXT
    )`,
    `INSERT INTO direct_messages_v4 (seq, sender, recipient, text, reply_to, urgent, ts_ms, state, notify_read, client_id)
     SELECT seq, sender, recipient, text, reply_to, urgent, ts_ms, state, notify_read, client_id FROM direct_messages ORDER BY seq`,
    `DELETE FROM sqlite_sequence WHERE name = 'direct_messages_v4'`,
    `INSERT INTO sqlite_sequence (name, seq) SELECT 'direct_messages_v4', seq FROM sqlite_sequence WHERE name = 'direct_messages'`,
    `DROP TABLE direct_messages`,
    `ALTER TABLE direct_messages_v4 RENAME TO direct_messages`,
    `CREATE INDEX direct_by_recipient_seq ON direct_messages (recipient, seq)`,
    `CREATE INDEX direct_by_time ON direct_messages (ts_ms)`,
    `CREATE UNIQUE INDEX direct_client_id ON direct_messages (sender, client_id) WHERE client_id IS NOT NULL`
  ]
]
