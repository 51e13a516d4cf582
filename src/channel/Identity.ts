/**
 * Which name a session takes on the relay.
 *
 * In order: `RELAY_PEER_ID` when it is a valid name (the user chose it); the Claude Code session's
 * own name, read from `~/.claude/sessions/<pid of Claude Code>.json` (so `/rename` in Claude Code
 * renames the peer too); the working directory's name. The last two are slugged so that any title
 * becomes a valid name.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Limits, NamePattern } from "../protocol/Limits.ts"

export type NameSource = "env" | "session" | "cwd"

export interface ResolvedName {
  readonly name: string
  readonly source: NameSource
}

/** Lower-case; runs of anything but `a–z 0–9 . _` become one `-`; trimmed of `-`; ≤64; `relay` if empty. */
export const slug = (raw: string): string => {
  const lowered = raw
    .toLowerCase()
    .replace(/[^a-z0-9._]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, Limits.maxNameChars)
    .replace(/-+$/, "")
  return lowered.length > 0 ? lowered : "relay"
}

export const sessionFile = (home: string, pid: number): string => path.join(home, ".claude", "sessions", `${pid}.json`)

/** The `name` of a Claude Code session file, if the file exists and has a non-empty string name. */
export const readSessionName = (file: string): string | undefined => {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"))
    if (typeof parsed !== "object" || parsed === null) return undefined
    const name = (parsed as Record<string, unknown>).name
    return typeof name === "string" && name.trim().length > 0 ? name.trim() : undefined
  } catch {
    return undefined
  }
}

export const resolveName = (options: {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  readonly parentPid: number
  readonly cwd: string
}): ResolvedName => {
  const fromEnv = options.env.RELAY_PEER_ID?.trim()
  if (fromEnv !== undefined && NamePattern.test(fromEnv)) return { name: fromEnv, source: "env" }
  const session = readSessionName(sessionFile(options.home, options.parentPid))
  if (session !== undefined) return { name: slug(session), source: "session" }
  return { name: slug(path.basename(options.cwd)), source: "cwd" }
}

/** The checked-out branch, read from `.git/HEAD` without running git; `""` when there is none. */
export const gitBranch = (cwd: string): string => {
  let dir = path.resolve(cwd)
  for (;;) {
    const dotGit = path.join(dir, ".git")
    try {
      let gitDir = dotGit
      if (fs.statSync(dotGit).isFile()) {
        // A worktree or submodule: `.git` is a file naming the real git directory.
        const pointer = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, "utf8"))
        if (pointer?.[1] === undefined) return ""
        gitDir = path.resolve(dir, pointer[1].trim())
      }
      const head = fs.readFileSync(path.join(gitDir, "HEAD"), "utf8").trim()
      const ref = /^ref:\s*refs\/heads\/(.+)$/.exec(head)
      return (ref?.[1] ?? head.slice(0, 12)).slice(0, Limits.maxGitBranchChars)
    } catch {
      const parent = path.dirname(dir)
      if (parent === dir) return ""
      dir = parent
    }
  }
}
