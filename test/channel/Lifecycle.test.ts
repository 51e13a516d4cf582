/**
 * The channel's life around the hub and the Claude Code session: it starts a hub when none runs,
 * shares one hub when sessions start together, survives the hub dying, takes its name from the
 * environment, the session or the directory, and exits with its parent.
 * Behaviour numbers refer to behaviours.md.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { bun, channelEntry, cleanup, hubPid, isAlive, root, startChannel, startHub, tempHome, waitFor } from "./Harness.ts"

afterEach(async () => {
  await cleanup()
})

const peerNames = async (session: { call: (name: string) => Promise<{ isError: boolean; json: any }> }) => {
  const result = await session.call("relay_peers")
  return result.isError ? undefined : (result.json.peers as Array<{ name: string }>).map((peer) => peer.name).sort()
}

const procField = (pid: number, field: "pgid" | "environ"): string => {
  if (field === "environ") return fs.readFileSync(`/proc/${pid}/environ`, "utf8")
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after ')'.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]!
}

describe("hub bootstrap (behaviours 1, 5)", () => {
  it("a session with no hub running spawns one, detached with a minimal environment; a second session joins it", async () => {
    const relayHome = path.join(tempHome(), "relay")
    const alice = await startChannel({ relayHome, peerId: "alice", env: { SOME_TOKEN: "do-not-leak" } })
    expect(await peerNames(alice)).toEqual([])
    const pid = await waitFor("the hub pid file", () => hubPid(relayHome))
    expect(isAlive(pid)).toBe(true)
    // Its own process group (not the session's), so a Ctrl-C in the terminal does not reach it.
    expect(procField(pid, "pgid")).toBe(String(pid))
    const environ = procField(pid, "environ").split("\0").filter((entry) => entry.length > 0)
    expect(environ.some((entry) => entry.startsWith("SOME_TOKEN="))).toBe(false)
    // PWD is added by the `bin/relay` shell script itself.
    const keys = environ.map((entry) => entry.split("=")[0]!)
    expect(keys.filter((key) => !["PATH", "HOME", "PWD"].includes(key) && !key.startsWith("RELAY_"))).toEqual([])
    expect(environ).toContain(`RELAY_HOME=${relayHome}`)

    const bob = await startChannel({ relayHome, peerId: "bob" })
    expect(await peerNames(bob)).toEqual(["alice"])
    expect(hubPid(relayHome)).toBe(pid)
  })

  it("two sessions starting at the same moment with no hub end up on one hub", async () => {
    const relayHome = path.join(tempHome(), "relay")
    const [alice, bob] = await Promise.all([startChannel({ relayHome, peerId: "alice" }), startChannel({ relayHome, peerId: "bob" })])
    expect(await waitFor("alice to see bob", async () => ((await peerNames(alice))?.includes("bob") ? true : undefined))).toBe(true)
    expect(await peerNames(bob)).toEqual(["alice"])
  })
})

describe("hub loss (behaviour 9)", () => {
  it("after kill -9 of the hub, sessions re-spawn it, keep their names and rejoin their rooms", async () => {
    const relayHome = path.join(tempHome(), "relay")
    const alice = await startChannel({ relayHome, peerId: "alice" })
    const bob = await startChannel({ relayHome, peerId: "bob" })
    expect((await alice.call("relay_join", { room: "ops" })).json.members).toEqual(["alice"])
    const first = await waitFor("the hub pid", () => hubPid(relayHome))

    process.kill(first, "SIGKILL")
    const second = await waitFor("a new hub", () => {
      const pid = hubPid(relayHome)
      return pid !== undefined && pid !== first && isAlive(pid) ? pid : undefined
    }, 15_000)
    expect(second).not.toBe(first)
    await waitFor("bob to see alice again", async () => ((await peerNames(bob))?.includes("alice") ? true : undefined), 15_000)
    const rooms = await waitFor("alice back in ops", async () => {
      const result = await bob.call("relay_rooms")
      return result.isError ? undefined : result.json.rooms.find((room: { name: string }) => room.name === "ops")
    })
    expect(rooms.members).toEqual(["alice"])
    expect((await alice.call("relay_peers")).json.me).toBe("alice")
  })

  it("tool calls while the hub is gone answer hub_unreachable instead of hanging, and work again once it is back", async () => {
    const relayHome = tempHome()
    const hub = await startHub(relayHome)
    const alice = await startChannel({ relayHome, peerId: "alice", env: { RELAY_AUTOSPAWN: "0" } })
    expect(await peerNames(alice)).toEqual([])
    await hub.kill("SIGKILL")

    const during = await waitFor("the channel to notice", async () => {
      const result = await alice.call("relay_peers")
      return result.isError ? result : undefined
    })
    expect(during.json).toMatchObject({ ok: false, code: "hub_unreachable" })
    // Also a tool whose arguments are fine but that needs the hub.
    expect((await alice.call("relay_join", { room: "ops" })).json.code).toBe("hub_unreachable")

    await startHub(relayHome)
    const back = await waitFor("relay_peers to work again", async () => {
      const result = await alice.call("relay_peers")
      return result.isError ? undefined : result
    }, 15_000)
    expect(back.json.me).toBe("alice")
  })
})

describe("identity (behaviour 17)", () => {
  it("without RELAY_PEER_ID two sessions in one directory register as <slug> and <slug>-2", async () => {
    const home = tempHome()
    const project = path.join(home, "My Project!")
    fs.mkdirSync(project)
    const hub = await startHub(home)
    const first = await startChannel({ relayHome: hub.relayHome, cwd: project, env: { RELAY_AUTOSPAWN: "0" } })
    expect((await first.call("relay_peers")).json.me).toBe("my-project")
    const second = await startChannel({ relayHome: hub.relayHome, cwd: project, env: { RELAY_AUTOSPAWN: "0" } })
    expect((await second.call("relay_peers")).json.me).toBe("my-project-2")
  })

  it("an invalid RELAY_PEER_ID is ignored in favour of the directory name", async () => {
    const home = tempHome()
    const hub = await startHub(home)
    const session = await startChannel({ relayHome: hub.relayHome, peerId: "not a name", cwd: home, env: { RELAY_AUTOSPAWN: "0" } })
    expect((await session.call("relay_peers")).json.me).toBe(path.basename(home).toLowerCase())
  })

  it("takes the Claude Code session name and follows a later /rename of the session", async () => {
    const home = tempHome()
    const hub = await startHub(home)
    // The channel's parent is this test process: Claude Code would be the parent in real use.
    const sessions = path.join(home, ".claude", "sessions")
    fs.mkdirSync(sessions, { recursive: true })
    const file = path.join(sessions, `${process.pid}.json`)
    fs.writeFileSync(file, JSON.stringify({ pid: process.pid, sessionId: "s-1", cwd: root, name: "Fix Login Bug" }))
    const session = await startChannel({
      relayHome: hub.relayHome,
      home,
      env: { RELAY_AUTOSPAWN: "0", RELAY_SESSION_POLL_MS: "100" }
    })
    expect((await session.call("relay_peers")).json.me).toBe("fix-login-bug")
    const watcher = await startChannel({ relayHome: hub.relayHome, peerId: "watcher", env: { RELAY_AUTOSPAWN: "0" } })

    fs.writeFileSync(file, JSON.stringify({ pid: process.pid, sessionId: "s-1", cwd: root, name: "Payments v2" }))
    await waitFor("the peer to be renamed", async () => ((await peerNames(watcher))?.includes("payments-v2") ? true : undefined))
    expect((await session.call("relay_peers")).json.me).toBe("payments-v2")
  })
})

describe("the channel exits with its session", () => {
  it("exits when the parent process goes away even though stdin stays open", async () => {
    const home = tempHome()
    const hub = await startHub(home)
    // An intermediate parent starts the channel with our stdin pipe, prints its pid and exits.
    const launcher = spawn(
      process.execPath,
      [
        "-e",
        `const c = require("node:child_process").spawn(${JSON.stringify(bun)}, [${JSON.stringify(channelEntry)}], { stdio: ["inherit", "ignore", "ignore"] }); console.log(c.pid); setTimeout(() => process.exit(0), 300)`
      ],
      { env: { PATH: process.env.PATH, HOME: home, RELAY_HOME: hub.relayHome, RELAY_AUTOSPAWN: "0", RELAY_PEER_ID: "orphan" }, stdio: ["pipe", "pipe", "ignore"] }
    )
    let out = ""
    launcher.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()))
    const pid = await waitFor("the channel pid", () => (/^\d+\n/.test(out) ? Number(out.trim()) : undefined))
    try {
      await waitFor("the launcher to exit", () => (launcher.exitCode !== null ? true : undefined))
      await waitFor("the orphaned channel to exit", () => (isAlive(pid) ? undefined : true), 10_000)
    } finally {
      if (isAlive(pid)) process.kill(pid, "SIGKILL")
      launcher.stdin!.end()
    }
  })

  it("exits when its stdin closes", async () => {
    const home = tempHome()
    const hub = await startHub(home)
    const child = spawn(bun, [channelEntry], {
      env: { PATH: process.env.PATH, HOME: home, RELAY_HOME: hub.relayHome, RELAY_AUTOSPAWN: "0", RELAY_PEER_ID: "closer" },
      stdio: ["pipe", "ignore", "ignore"]
    })
    try {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      child.stdin!.end()
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL")
    }
  })
})
