/**
 * The data directory is private to its user: 0700, whatever umask the hub was started with. The
 * files in it are 0600 (each writer chmods its own file right after creating it).
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"

export class DataDirError extends Data.TaggedError("DataDirError")<{ readonly path: string; readonly message: string }> {}

export const ensurePrivateDir = (dir: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const stat = fs.statSync(dir)
      if (!stat.isDirectory()) throw new Error("exists and is not a directory")
      if ((stat.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700)
    },
    catch: (cause) =>
      new DataDirError({
        path: dir,
        message: `cannot use ${dir} as the relay data directory (${String(cause)}); set RELAY_HOME to a writable directory`
      })
  })
