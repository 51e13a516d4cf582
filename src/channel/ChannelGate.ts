/**
 * Will Claude Code show our channel notifications, or drop them?
 *
 * Claude Code accepts `notifications/claude/channel` only from servers enabled for the session
 * (`--channels` / `--dangerously-load-development-channels`) and never in print mode (`-p`); any
 * other notification is dropped without a word, and nothing in the MCP handshake tells the server
 * which case it is in. Confirming a dropped push to the hub would mark a message delivered that
 * nobody saw, so when the parent is Claude Code and its command line cannot have enabled channels,
 * the channel does not push at all: direct messages then stay unread for `relay_inbox`.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"

export type ChannelGate = "enabled" | "disabled" | "unknown"

/** The argument vector of a process, or `undefined` when it cannot be read. */
export const processArgs = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
    return raw.split("\0").filter((arg) => arg.length > 0)
  } catch {
    // No /proc (macOS): `ps` gives the command line as one string, which is enough to find flags.
    const ps = spawnSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8", timeout: 2000 })
    return ps.status === 0 && ps.stdout.trim().length > 0 ? ps.stdout.trim().split(/\s+/) : undefined
  }
}

const channelFlags = ["--channels", "--dangerously-load-development-channels"]
const printFlags = ["-p", "--print"]

/**
 * The entries the channel flags name (`server:relay`, `plugin:relay@relay-hub`, …). The flags take
 * a space-separated list, so every argument up to the next option belongs to them.
 */
export const channelEntries = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const entries: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const flag = channelFlags.find((candidate) => arg === candidate || arg.startsWith(`${candidate}=`))
    if (flag === undefined) continue
    if (arg !== flag) entries.push(arg.slice(flag.length + 1))
    while (i + 1 < args.length && !args[i + 1]!.startsWith("-")) entries.push(args[++i]!)
  }
  return entries.flatMap((entry) => entry.split(",")).map((entry) => entry.trim()).filter((entry) => entry.length > 0)
}

/**
 * Our server as the flags name it: `server:relay` (`.mcp.json`, `claude mcp add relay`) or the
 * plugin `relay@<marketplace>`. Another server's channel (`plugin:telegram@…`) does not enable
 * ours: Claude Code drops our notifications then, so confirming them would lose the messages.
 */
const isOurs = (entry: string): boolean => entry === "server:relay" || entry.startsWith("plugin:relay@")

/**
 * Decides from the MCP client's name and its command line. Anything that is not Claude Code (the
 * SDK client in tests, another harness) is `unknown`, and gets pushes.
 */
export const decide = (clientName: string | undefined, args: ReadonlyArray<string> | undefined): ChannelGate => {
  if (clientName !== "claude-code" || args === undefined) return "unknown"
  const has = (flags: ReadonlyArray<string>) => args.some((arg) => flags.some((flag) => arg === flag || arg.startsWith(`${flag}=`)))
  if (has(printFlags)) return "disabled"
  return channelEntries(args).some(isOurs) ? "enabled" : "disabled"
}
