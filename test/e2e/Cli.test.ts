/**
 * The `relay` command end to end: the real `bin/relay` on Bun, its exit codes and what it prints.
 * The hub's protocol behaviour is covered by `test/hub` (run against this same process too).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import packageJson from "../../package.json" with { type: "json" }
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { tempDataDir } from "../support/TestHub.ts"
import { relay, type RelayHub, startRelayHub } from "./Relay.ts"

describe("relay command (bin/relay on Bun)", () => {
  const hubs: Array<RelayHub> = []
  const clients: Array<NdjsonClient> = []
  const dirs: Array<string> = []

  const home = () => {
    const dir = tempDataDir("relay-e2e-")
    dirs.push(dir)
    return dir
  }
  const start = async (args: ReadonlyArray<string>, env: { RELAY_HOME: string }) => {
    const hub = await startRelayHub(args, env)
    hubs.push(hub)
    return hub
  }
  const connect = async (socketPath: string) => {
    const client = await NdjsonClient.connect(socketPath)
    clients.push(client)
    return client
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close()
    await Promise.all(hubs.splice(0).map((hub) => hub.stop()))
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })

  it("--version prints the package version; help lists the commands and the tuning variables", async () => {
    const env = { RELAY_HOME: home() }
    const [version, help] = await Promise.all([relay(["--version"], env), relay(["help"], env)])
    expect(version).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: "" })
    expect(help.code).toBe(0)
    for (const word of ["relay hub", "relay status", "relay stop", "--idle-exit", "RELAY_HOME", "RELAY_SWEEP_INTERVAL"]) {
      expect(help.stdout).toContain(word)
    }
  })

  it("bad flags and commands are usage errors (exit 2) that say what to do, and start nothing", async () => {
    const env = { RELAY_HOME: home() }
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["hub", "--bogus"], /unknown argument '--bogus'.*relay help/],
      [["hub", "--idle-exit"], /--idle-exit needs a value, e\.g\. --idle-exit 10s/],
      [["hub", "--idle-exit", "soon"], /'soon' is not a duration; write it like 500ms, 10s/],
      [["status", "--verbose"], /unknown argument '--verbose'/],
      [["frobnicate"], /unknown command 'frobnicate'.*relay help/]
    ]
    const results = await Promise.all(cases.map(([args]) => relay(args, env)))
    results.forEach((result, i) => {
      expect({ args: cases[i]![0], code: result.code }).toEqual({ args: cases[i]![0], code: 2 })
      expect(result.stderr).toMatch(cases[i]![1])
      expect(result.stderr).toMatch(/^relay: /)
    })
    const badEnv = await relay(["hub"], { ...env, RELAY_SWEEP_INTERVAL: "often" })
    expect(badEnv.code).toBe(2)
    expect(badEnv.stderr).toMatch(/RELAY_SWEEP_INTERVAL\W+'often' is not a duration/)
    const zero = await relay(["hub"], { ...env, RELAY_SWEEP_INTERVAL: "0" })
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/RELAY_SWEEP_INTERVAL='0' must be longer than 0/)
    expect(fs.existsSync(path.join(env.RELAY_HOME, "hub.sock"))).toBe(false)
  })

  it("status says 'not running' with exit 3, in words and in --json", async () => {
    const env = { RELAY_HOME: home() }
    const [words, json] = await Promise.all([relay(["status"], env), relay(["status", "--json"], env)])
    expect(words.code).toBe(3)
    expect(words.stderr).toMatch(/no hub is running on .*hub\.sock; start one with `relay hub`/)
    expect(json.code).toBe(3)
    expect(JSON.parse(json.stdout)).toEqual({ running: false, socket: path.join(env.RELAY_HOME, "hub.sock") })
  })

  it("hub prints ready and serves; status lists its peers; stop stops it (exit 0, socket gone)", async () => {
    const env = { RELAY_HOME: home() }
    const socketPath = path.join(env.RELAY_HOME, "hub.sock")
    const hub = await start([], env)
    expect(hub.stdout()).toMatch(/^relay hub ready: socket .*hub\.sock, pid \d+, idle exit off\n/)
    // Everything the hub wrote (socket, pid, database, WebSocket token and port) is the user's alone.
    expect(fs.statSync(env.RELAY_HOME).mode & 0o777).toBe(0o700)
    for (const entry of fs.readdirSync(env.RELAY_HOME)) {
      expect({ entry, mode: fs.statSync(path.join(env.RELAY_HOME, entry)).mode & 0o777 }).toEqual({ entry, mode: 0o600 })
    }

    const alice = await connect(socketPath)
    await alice.register("alice")
    const words = await relay(["status"], env)
    expect(words.code).toBe(0)
    const port = Number(fs.readFileSync(path.join(env.RELAY_HOME, "ws.port"), "utf8"))
    expect(words.stdout).toContain(`pid ${hub.pid})`)
    expect(words.stdout).toMatch(new RegExp(`is running on .*hub\\.sock; WebSocket ws://127\\.0\\.0\\.1:${port}; 1 peer\n`))
    expect(words.stdout).toMatch(/alice {2}\/work\/alice \[main\] {2}last seen \d{4}-/)
    const json = await relay(["status", "--json"], env)
    expect(json.code).toBe(0)
    const status = JSON.parse(json.stdout)
    expect(status).toMatchObject({
      running: true,
      socket: socketPath,
      pid: hub.pid,
      websocket_port: port,
      hub: { type: "welcome", hub_version: packageJson.version }
    })
    expect(status.peers).toEqual([{ name: "alice", cwd: "/work/alice", git_branch: "main", last_seen: expect.any(Number) }])

    const stopped = await relay(["stop"], env)
    expect(stopped).toMatchObject({ code: 0, stdout: `stopped the hub (pid ${hub.pid})\n` })
    expect(await hub.exited).toBe(0)
    await alice.waitClosed()
    expect(fs.existsSync(socketPath)).toBe(false)
    expect(fs.existsSync(path.join(env.RELAY_HOME, "hub.pid"))).toBe(false)
    expect((await relay(["status"], env)).code).toBe(3)
    expect(await relay(["stop"], env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/no hub is running/) })
  })

  it("hub --idle-exit 1s exits by itself with code 0 once nobody is connected, removing its socket", async () => {
    const env = { RELAY_HOME: home() }
    const socketPath = path.join(env.RELAY_HOME, "hub.sock")
    const hub = await start(["--idle-exit", "1s"], env)
    expect(hub.stdout()).toMatch(/idle exit 1s/)
    const a = await connect(socketPath)
    expect(await a.request({ type: "ping" })).toMatchObject({ type: "pong" })
    a.close()
    expect(await hub.exited).toBe(0)
    expect(fs.existsSync(socketPath)).toBe(false)
  })

  it("after a SIGKILL the stale socket is detected: status says not running, and a new hub replaces it", async () => {
    const env = { RELAY_HOME: home() }
    const socketPath = path.join(env.RELAY_HOME, "hub.sock")
    const first = await start([], env)
    const alice = await connect(socketPath)
    await alice.register("alice")
    first.child.kill("SIGKILL")
    await first.exited
    await alice.waitClosed()
    expect(fs.lstatSync(socketPath).isSocket()).toBe(true) // what a killed hub leaves behind

    expect((await relay(["status"], env)).code).toBe(3)
    const second = await start([], env)
    expect(second.stderr()).toMatch(/removed a stale socket/)
    const bob = await connect(socketPath)
    expect(await bob.register("bob")).toMatchObject({ type: "ack" })
    expect(await bob.request({ type: "list_peers" })).toMatchObject({ peers: [] })
    expect(fs.readFileSync(path.join(env.RELAY_HOME, "hub.pid"), "utf8").trim()).toBe(String(second.pid))
    const status = JSON.parse((await relay(["status", "--json"], env)).stdout)
    expect(status.peers.map((p: { name: string }) => p.name)).toEqual(["bob"])
  })
})
