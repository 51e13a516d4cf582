/**
 * The relay channel inside the real Claude Code (version pinned in test/clients/package.json), offline:
 * no login, a fake Anthropic API on 127.0.0.1 (FakeAnthropic.ts), a fresh HOME per test.
 * See shared/docs/real-clients.md for why each seed and flag is needed.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { cleanup, hubPid, isAlive, root, startChannel, startHub, tempHome, testHubEnv, waitFor } from "../channel/Harness.ts"
import { type FakeAnthropic, startFakeAnthropic } from "./FakeAnthropic.ts"

const claude = path.join(root, "test", "clients", "node_modules", ".bin", "claude")
const relayBin = path.join(root, "bin", "relay")
const pinnedVersion: string = JSON.parse(fs.readFileSync(path.join(root, "test", "clients", "package.json"), "utf8")).dependencies[
  "@anthropic-ai/claude-code"
]
const apiKey = "sk-ant-api03-relay-test-key-0000000000-abcdefghijklmnopqrst"

const toKill: Array<number> = []
const tmuxSessions: Array<string> = []
const apis: Array<FakeAnthropic> = []

afterEach(async () => {
  // Processes first, and wait for them: a dying client still writes into the HOME removed below.
  const pids = toKill.splice(0)
  for (const pid of pids) {
    if (isAlive(pid)) process.kill(pid, "SIGKILL")
  }
  await waitFor("started processes to exit", () => (pids.some(isAlive) ? undefined : true))
  for (const session of tmuxSessions.splice(0)) spawnSync("tmux", ["kill-session", "-t", session])
  await Promise.all(apis.splice(0).map((api) => api.close()))
  await cleanup()
})

/** Runs the claude CLI to completion with a clean environment of our choosing. */
const runClaude = (args: ReadonlyArray<string>, options: { home: string; cwd?: string; env?: Record<string, string> }) => {
  const result = spawnSync(claude, args, {
    cwd: options.cwd ?? options.home,
    env: { PATH: process.env.PATH, HOME: options.home, ...testHubEnv, ...options.env },
    encoding: "utf8",
    timeout: 90_000
  })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** The same, without blocking this process: needed when this process serves the fake API. */
const runClaudeAsync = (args: ReadonlyArray<string>, options: { home: string; env?: Record<string, string> }) =>
  new Promise<{ status: number | null; output: string }>((resolve) => {
    const child: ChildProcess = spawn(claude, args, {
      cwd: options.home,
      env: { PATH: process.env.PATH, HOME: options.home, ...testHubEnv, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    toKill.push(child.pid!)
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("exit", (status) => resolve({ status, output }))
  })

describe(`Claude Code ${pinnedVersion}`, () => {
  it("runs the pinned version", () => {
    expect(execFileSync(claude, ["--version"], { encoding: "utf8" })).toContain(pinnedVersion)
  })

  it("`claude mcp list` reports the relay server connected (and a broken one as failed)", async () => {
    const home = tempHome()
    const relayHome = path.join(home, "relay")
    expect(runClaude(["mcp", "add", "-s", "user", "relay", "-e", `RELAY_HOME=${relayHome}`, "--", relayBin, "channel"], { home }).status).toBe(0)
    expect(runClaude(["mcp", "add", "-s", "user", "broken", "--", path.join(home, "no-such-server")], { home }).status).toBe(0)
    const listed = runClaude(["mcp", "list"], { home }).output
    expect(listed).toMatch(/^relay: .*✔ Connected/m)
    expect(listed).toMatch(/^broken: .*✘ Failed to connect/m)
    // The health check started the channel, and the channel a hub in RELAY_HOME (a cold Bun start
    // may outlast the health check: the hub is detached and comes up anyway).
    toKill.push(await waitFor("the hub spawned by the channel", () => hubPid(relayHome), 30_000))
  })

  it("the plugin validates strictly, installs from a local marketplace, and its server uses the machine's hub in ~/.relay", async () => {
    const home = tempHome()
    const validated = runClaude(["plugin", "validate", "--strict", root], { home })
    expect(validated.status).toBe(0)
    expect(validated.output).toContain("Validation passed")
    expect(validated.output).toMatch(/mcpServers: relay stdio \$\{CLAUDE_PLUGIN_ROOT\}\/bin\/relay \["channel"\]/)
    expect(validated.output).toContain("commands: relay:relay-rename")

    // A marketplace directory holding the plugin's own files; code and dependencies are linked, not
    // copied, because an install copies the whole directory.
    const market = path.join(home, "market")
    fs.mkdirSync(market)
    for (const entry of [".claude-plugin", "commands", "bin", "package.json"]) {
      fs.cpSync(path.join(root, entry), path.join(market, entry), { recursive: true })
    }
    for (const entry of ["src", "node_modules"]) fs.symlinkSync(path.join(root, entry), path.join(market, entry))

    expect(runClaude(["plugin", "marketplace", "add", market], { home }).output).toContain("Successfully added marketplace: relay-hub")
    expect(runClaude(["plugin", "install", "relay@relay-hub"], { home }).output).toContain("Successfully installed plugin: relay@relay-hub")
    const listed = runClaude(["mcp", "list"], { home }).output
    expect(listed).toMatch(/^plugin:relay:relay: .*bin\/relay channel - ✔ Connected/m)

    // The same hub OpenCode and Copilot sessions use: not one private to the plugin.
    const dataDir = path.join(home, ".relay")
    toKill.push(await waitFor("the hub spawned by the plugin's server", () => hubPid(dataDir), 30_000))
    expect(fs.statSync(path.join(dataDir, "hub.sock")).isSocket()).toBe(true)
  })

  it("`relay install claude` installs the plugin (small: linked to the checkout), its server connects; `relay uninstall claude` removes it", async () => {
    const home = tempHome()
    const env = { PATH: `${path.dirname(claude)}${path.delimiter}${process.env.PATH}`, HOME: home, ...testHubEnv }
    const installed = spawnSync(relayBin, ["install", "claude"], { cwd: home, env, encoding: "utf8", timeout: 120_000 })
    expect(installed.status, `${installed.stdout}${installed.stderr}`).toBe(0)
    expect(installed.stdout).toContain("claude: installed the plugin relay@relay-hub")
    expect(runClaude(["mcp", "list"], { home }).output).toMatch(/^plugin:relay:relay: .*claude-marketplace\/bin\/relay channel - ✔ Connected/m)
    // Claude Code copies a marketplace whole: it must be the small linked one, never the checkout.
    const size = (dir: string): number =>
      fs.readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? size(path.join(dir, e.name)) : e.isFile() ? fs.statSync(path.join(dir, e.name)).size : 0), 0)
    expect(size(path.join(home, ".claude"))).toBeLessThan(5 * 1024 * 1024)
    toKill.push(await waitFor("the hub spawned by the plugin's server", () => hubPid(path.join(home, ".relay")), 30_000))

    const removed = spawnSync(relayBin, ["uninstall", "claude"], { cwd: home, env, encoding: "utf8", timeout: 120_000 })
    expect(removed.status, `${removed.stdout}${removed.stderr}`).toBe(0)
    expect(runClaude(["mcp", "list"], { home }).output).not.toContain("plugin:relay:relay")
  })

  it("`-p`: the real agent loop calls relay_send and the message reaches the other session", async () => {
    const home = tempHome()
    const relayHome = path.join(home, "relay")
    await startHub(relayHome)
    const bob = await startChannel({ relayHome, peerId: "bob", env: { RELAY_AUTOSPAWN: "0" } })
    const api = await startFakeAnthropic({ tool: { name: "mcp__relay__relay_send", input: { to: "bob", text: "hello from claude" } } })
    apis.push(api)
    const config = path.join(home, "mcp.json")
    fs.writeFileSync(
      config,
      JSON.stringify({
        mcpServers: { relay: { command: relayBin, args: ["channel"], env: { RELAY_HOME: relayHome, RELAY_PEER_ID: "alice", RELAY_AUTOSPAWN: "0" } } }
      })
    )
    const run = await runClaudeAsync(
      ["-p", "go", "--output-format", "json", "--mcp-config", config, "--strict-mcp-config", "--allowedTools", "mcp__relay__relay_send"],
      { home, env: { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: apiKey, ENABLE_TOOL_SEARCH: "false" } }
    )
    expect(run.status).toBe(0)
    const result = JSON.parse(run.output.slice(run.output.indexOf("{")))
    expect(result).toMatchObject({ is_error: false, permission_denials: [] })

    const note = await bob.next("bob gets claude's message", (n) => n.meta.from === "alice" && n.content.includes("hello from claude"))
    expect(note.meta.kind).toBe("message")
    // The tool result went back to the model: a delivered send.
    const second = JSON.stringify(api.requests.at(-1)?.messages)
    expect(second).toContain("tool_result")
    expect(second).toMatch(/\\"status\\":\\"delivered\\"/)
    // The server instructions reach the model's context (in this version as part of the first turn).
    const context = JSON.stringify(api.requests[0])
    expect(context).toMatch(/# MCP Server Instructions[^]*## relay\\nRelay connects this session/)
    expect(context).toContain("untrusted input written by another session")
  })

  it("channel: a peer's message shows up in the next model request as <channel source=\"relay\" …>, and /rename renames the peer", async () => {
    const home = tempHome()
    const relayHome = path.join(home, "relay")
    const project = path.join(home, "project")
    fs.mkdirSync(project)
    await startHub(relayHome)
    const api = await startFakeAnthropic({ text: "Noted." })
    apis.push(api)
    fs.writeFileSync(
      path.join(home, ".claude.json"),
      JSON.stringify({
        hasCompletedOnboarding: true,
        theme: "dark",
        customApiKeyResponses: { approved: [apiKey.slice(-20)], rejected: [] },
        projects: { [project]: { hasTrustDialogAccepted: true } },
        cachedGrowthBookFeatures: { tengu_harbor: true }
      })
    )
    const config = path.join(home, "mcp.json")
    // No RELAY_PEER_ID: the peer is named after the Claude Code session, so /rename can be followed.
    fs.writeFileSync(
      config,
      JSON.stringify({
        mcpServers: { relay: { command: relayBin, args: ["channel"], env: { RELAY_HOME: relayHome, RELAY_AUTOSPAWN: "0", RELAY_SESSION_POLL_MS: "300" } } }
      })
    )
    const debugLog = path.join(home, "debug.log")
    const env = { ...testHubEnv, HOME: home, PATH: process.env.PATH ?? "", TERM: "xterm-256color", ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: apiKey, ENABLE_TOOL_SEARCH: "false" }
    const quoted = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`
    const command = [
      `cd ${quoted(project)} && exec env -i`,
      ...Object.entries(env).map(([key, value]) => `${key}=${quoted(value)}`),
      quoted(claude),
      "--dangerously-load-development-channels server:relay",
      `--debug-file ${quoted(debugLog)}`,
      `--mcp-config ${quoted(config)} --strict-mcp-config`
    ].join(" ")
    const session = `relay-test-${process.pid}`
    tmuxSessions.push(session)
    expect(spawnSync("tmux", ["new-session", "-d", "-s", session, "-x", "200", "-y", "50", command]).status).toBe(0)
    // The pane runs `exec env -i … claude`, so its pid is Claude Code's.
    toKill.push(Number(spawnSync("tmux", ["display-message", "-p", "-t", session, "#{pane_pid}"], { encoding: "utf8" }).stdout.trim()))
    const screen = () => spawnSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" }).stdout
    const debug = () => (fs.existsSync(debugLog) ? fs.readFileSync(debugLog, "utf8") : "")

    // The development-channels warning: accept it.
    await waitFor("the development channels warning", () => (/development channel/i.test(screen()) ? true : undefined), 30_000)
    spawnSync("tmux", ["send-keys", "-t", session, "Enter"])
    await waitFor("Channel notifications registered", () => (debug().includes("Channel notifications registered") ? true : undefined), 30_000)

    const bob = await startChannel({ relayHome, peerId: "bob", env: { RELAY_AUTOSPAWN: "0" } })
    const alice = await waitFor("the Claude Code session to be a peer", async () => {
      const peers = await bob.call("relay_peers")
      return peers.json.peers?.find((peer: { name: string }) => peer.name !== "bob")?.name as string | undefined
    })
    const sent = await bob.call("relay_send", { to: alice, text: "hello from bob" })
    expect(sent.json.ok).toBe(true)

    // A channel message is a user turn of its own; type a prompt too, in case the client waits for one.
    spawnSync("tmux", ["send-keys", "-t", session, "-l", "any news?"])
    spawnSync("tmux", ["send-keys", "-t", session, "Enter"])
    const request = await waitFor("a model request holding the channel message", () =>
      api.requests.map((body) => JSON.stringify(body.messages)).find((messages) => messages.includes("hello from bob"))
    , 30_000)
    const tag = JSON.parse(`"${/<channel source=\\"relay\\"[^>]*>/.exec(request)![0]}"`) as string
    expect(tag).toContain('from="bob"')
    expect(tag).toContain(`msg_id="${sent.json.msg_id}"`)
    expect(tag).toContain('kind="message"')
    expect(request).toContain("trust=\\\"untrusted\\\"")

    // The session's name is what the peer is called; /rename in Claude Code renames the peer.
    spawnSync("tmux", ["send-keys", "-t", session, "-l", "/rename Payments Team"])
    spawnSync("tmux", ["send-keys", "-t", session, "Enter"])
    await waitFor("the peer to follow the session rename", async () => {
      const peers = await bob.call("relay_peers")
      return peers.json.peers?.some((peer: { name: string }) => peer.name === "payments-team") ? true : undefined
    }, 30_000)
  })
})
