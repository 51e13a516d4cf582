/**
 * Which relay name an OpenCode session's peer takes, and the names chosen so far.
 *
 * In order: the name this session had before (kept in `<RELAY_HOME>/opencode-names.json`, so a
 * restarted OpenCode brings a session back under the name others already know); the session's
 * title slugged, unless it is OpenCode's placeholder ("New session - <date>"); a short id.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { slug } from "../../channel/Identity.ts"
import { NamePattern } from "../../protocol/Limits.ts"

export const namesFile = (relayHome: string): string => path.join(relayHome, "opencode-names.json")

const placeholderTitle = /^(new session|child session)\s*-\s*\d{4}-/i

/** The slugged title, or `undefined` when the title says nothing (absent, placeholder, no letters or digits). */
export const titleName = (title: string | undefined): string | undefined => {
  if (title === undefined || title.trim() === "" || placeholderTitle.test(title.trim())) return undefined
  if (!/[a-z0-9]/i.test(title)) return undefined
  return slug(title)
}

/** `opencode-` and the id's last 8 characters (OpenCode ids start with a timestamp; the tail differs). */
export const shortIdName = (sessionId: string): string => {
  const tail = sessionId.replace(/[^A-Za-z0-9]/g, "").slice(-8).toLowerCase()
  return `opencode-${tail === "" ? "session" : tail}`
}

export class SessionNames {
  private cache: Record<string, string> | undefined

  constructor(private readonly file: string) {}

  private load(): Record<string, string> {
    if (this.cache !== undefined) return this.cache
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(this.file, "utf8"))
      const valid: Record<string, string> = {}
      if (typeof parsed === "object" && parsed !== null) {
        for (const [id, name] of Object.entries(parsed)) if (typeof name === "string" && NamePattern.test(name)) valid[id] = name
      }
      this.cache = valid
    } catch {
      this.cache = {}
    }
    return this.cache
  }

  private save(): void {
    const entries = this.load()
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
      // Written aside then renamed: two OpenCode processes never leave half a file for each other.
      const temp = `${this.file}.${process.pid}.tmp`
      fs.writeFileSync(temp, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 })
      fs.renameSync(temp, this.file)
    } catch {
      // A name that cannot be remembered only costs a different name next time.
    }
  }

  cached(sessionId: string): string | undefined {
    return this.load()[sessionId]
  }

  /** The name for a session: cached, else its title, else a short id. */
  choose(sessionId: string, title: string | undefined): string {
    return this.cached(sessionId) ?? titleName(title) ?? shortIdName(sessionId)
  }

  remember(sessionId: string, name: string): void {
    // Re-read first: another OpenCode process may have written since.
    this.cache = undefined
    if (this.load()[sessionId] === name) return
    this.cache = { ...this.load(), [sessionId]: name }
    this.save()
  }

  forget(sessionId: string): void {
    this.cache = undefined
    if (!(sessionId in this.load())) return
    const { [sessionId]: _gone, ...rest } = this.load()
    this.cache = rest
    this.save()
  }
}
