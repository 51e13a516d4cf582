/**
 * The Copilot CLI extension, driven through a fake `joinSession` the way Copilot calls it, against
 * a real hub over its WebSocket endpoint: once from the TypeScript source, once from the Node
 * bundle `relay install copilot` builds (imported here, on Node).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { CopilotSession, JoinSession, JoinSessionConfig, RunningExtension } from "../../src/adapters/copilot/Extension.ts"
import { runCopilotExtension } from "../../src/adapters/copilot/Extension.ts"
import { defaultContext, installWith } from "../../src/cli/Install.ts"
import { relayTools } from "../../src/tools/RelayTools.ts"
import { type AdapterHub, startAdapterHub, waitUntil } from "./Support.ts"

interface Sent {
  readonly prompt: string
  readonly mode?: string
}

const fakeCopilot = () => {
  const sent: Array<Sent> = []
  let config: JoinSessionConfig | undefined
  const session: CopilotSession = {
    sessionId: "copilot-session-1",
    send: async (options) => {
      sent.push(options)
      return "message-id"
    }
  }
  const joinSession: JoinSession = async (given) => {
    config = given
    return session
  }
  return {
    sent,
    joinSession,
    config: () => config!,
    call: async (name: string, args: unknown) => {
      const result = await config!.tools.find((tool) => tool.name === name)!.handler(args)
      return typeof result === "string" ? { ok: true, json: JSON.parse(result) } : { ok: false, json: JSON.parse(result.textResultForLlm) }
    }
  }
}

let hub: AdapterHub
const running: Array<RunningExtension> = []
const temps: Array<string> = []

afterEach(async () => {
  for (const extension of running.splice(0)) await extension.close()
  await hub?.stop()
  hub = undefined as unknown as AdapterHub
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

type Run = typeof runCopilotExtension

const suite = (label: string, load: () => Promise<Run>) =>
  describe(label, () => {
    it("declares every relay tool with its JSON Schema, registers at once, and its tools reach other peers", async () => {
      hub = await startAdapterHub()
      const run = await load()
      const copilot = fakeCopilot()
      const extension = await run(copilot.joinSession, { env: { ...hub.env, RELAY_PEER_ID: "copilot-a" }, cwd: hub.hub.dataDir })
      running.push(extension)
      expect(copilot.config().tools.map((tool) => tool.name)).toEqual(relayTools.map((tool) => tool.name))
      expect(copilot.config().tools.find((tool) => tool.name === "relay_send")!.parameters).toEqual(
        relayTools.find((tool) => tool.name === "relay_send")!.inputSchema
      )
      await waitUntil("the peer", async () => ((await hub.peerNames()).includes("copilot-a") ? true : undefined))

      const bob = await hub.peer("bob")
      const sent = await copilot.call("relay_send", { to: "bob", text: "hi from copilot" })
      expect(sent).toMatchObject({ ok: true, json: { ok: true, status: "delivered" } })
      expect(await bob.waitFor((f) => f.type === "incoming_message")).toMatchObject({ from: "copilot-a", text: "hi from copilot" })
      expect(await copilot.call("relay_send", { to: "bob" })).toMatchObject({ ok: false, json: { ok: false, code: "bad_args" } })

      const start = await copilot.config().hooks.onSessionStart()
      expect(start.additionalContext).toContain('This session is the relay peer "copilot-a".')
    })

    it("injects incoming messages with session.send (urgent ones immediately), carrying sender and ids, and confirms them", async () => {
      hub = await startAdapterHub()
      const run = await load()
      const copilot = fakeCopilot()
      running.push(await run(copilot.joinSession, { env: { ...hub.env, RELAY_PEER_ID: "copilot-b" }, cwd: hub.hub.dataDir }))
      await waitUntil("the peer", async () => ((await hub.peerNames()).includes("copilot-b") ? true : undefined))
      const bob = await hub.peer("bob")
      const plain = await bob.request({ type: "send", to: "copilot-b", text: "status?" })
      const urgent = await bob.request({ type: "send", to: "copilot-b", text: "stop the deploy", urgent: true })
      await waitUntil("both injected", () => (copilot.sent.length === 2 ? true : undefined))
      expect(copilot.sent[0]!.mode).toBe("enqueue")
      expect(copilot.sent[0]!.prompt).toMatch(new RegExp(`^\\[relay message from="bob" msg_id="${plain.msg_id}"`))
      expect(copilot.sent[0]!.prompt).toContain('<peer_message from="bob" kind="message" trust="untrusted">\nstatus?\n</peer_message>')
      expect(copilot.sent[1]!.mode).toBe("immediate")
      expect(copilot.sent[1]!.prompt).toContain(`msg_id="${urgent.msg_id}"`)
      await waitUntil("both delivered", async () => {
        const states = await Promise.all([plain, urgent].map((m) => bob.request({ type: "msg_status", msg_id: m.msg_id })))
        return states.every((s) => s.state === "delivered") ? true : undefined
      })
    })

    it("the session ending disconnects the peer", async () => {
      hub = await startAdapterHub()
      const run = await load()
      const copilot = fakeCopilot()
      running.push(await run(copilot.joinSession, { env: { ...hub.env, RELAY_PEER_ID: "copilot-c" }, cwd: hub.hub.dataDir }))
      await waitUntil("the peer", async () => ((await hub.peerNames()).includes("copilot-c") ? true : undefined))
      await copilot.config().hooks.onSessionEnd()
      await waitUntil("the peer to leave", async () => ((await hub.peerNames()).includes("copilot-c") ? undefined : true))
    })
  })

suite("Copilot extension (TypeScript source)", async () => runCopilotExtension)

suite("Copilot extension (the Node bundle `relay install copilot` builds)", async () => {
  const copilotHome = fs.mkdtempSync(path.join(os.tmpdir(), "relay-copilot-"))
  temps.push(copilotHome)
  await Effect.runPromise(installWith(["copilot"], { ...defaultContext(), env: { ...process.env, COPILOT_HOME: copilotHome } }))
  const module = (await import(path.join(copilotHome, "extensions", "relay", "relay.bundle.mjs"))) as { runCopilotExtension: Run }
  return module.runCopilotExtension
})
