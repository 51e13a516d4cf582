/**
 * Claude Code's channel (driven by the MCP SDK client, as Claude Code drives it), a real OpenCode
 * session and a real Copilot CLI session on one hub, each receiving from each: Claude sends with
 * its tools; OpenCode and Copilot send from their real agent loops (parallel tool calls scripted
 * in the fake model API).
 */
import { afterEach, describe, expect, it } from "vitest"
import { cleanup, startChannel } from "../channel/Harness.ts"
import { type FakeAnthropic, startFakeAnthropic } from "./FakeAnthropic.ts"
import { pinned, runCopilot, startOpenCode, startWorld, stopAll, waitFor } from "./Harnesses.ts"

const apis: Array<FakeAnthropic> = []
afterEach(async () => {
  await cleanup()
  await stopAll()
  await Promise.all(apis.splice(0).map((api) => api.close()))
})

const textOf = (message: any): string => (message.parts as Array<any>).filter((p) => p.type === "text").map((p) => p.text).join("\n")

describe(`Claude Code channel + OpenCode ${pinned["opencode-ai"]} + Copilot CLI ${pinned["@github/copilot"]} on one hub`, () => {
  it("each receives from each", async () => {
    const world = await startWorld()
    const claude = await startChannel({ relayHome: world.relayHome, peerId: "claude-peer", env: { RELAY_AUTOSPAWN: "0" } })

    const openCodeApi = await startFakeAnthropic({
      tools: [
        { name: "relay_send", input: { to: "claude-peer", text: "hi claude, opencode here" } },
        { name: "relay_send", input: { to: "copilot-peer", text: "hi copilot, opencode here" } }
      ],
      text: "Sent both."
    })
    apis.push(openCodeApi)
    const opencode = await startOpenCode(world, openCodeApi.url)
    const session = await opencode.api("POST", "/session", { title: "opencode-peer" })
    await waitFor("the OpenCode peer", async () => ((await world.peerNames()).includes("opencode-peer") ? true : undefined), 30_000)

    // Claude → OpenCode (live) and → Copilot (not started yet: queued, pushed when it connects).
    expect((await claude.call("relay_send", { to: "opencode-peer", text: "hi opencode, claude here" })).json).toMatchObject({ ok: true, status: "delivered" })
    expect((await claude.call("relay_send", { to: "copilot-peer", text: "hi copilot, claude here" })).json).toMatchObject({ ok: true, status: "queued" })

    // OpenCode's agent loop → Claude (live) and → Copilot (queued).
    await opencode.api("POST", `/session/${session.id}/message`, { parts: [{ type: "text", text: "go" }] })
    await claude.next("Claude gets OpenCode's message", (n) => n.meta.from === "opencode-peer" && n.content.includes("hi claude, opencode here"), 30_000)

    // Copilot's agent loop → Claude and → OpenCode, while it is handed the two queued messages.
    const copilotApi = await startFakeAnthropic({
      tools: [
        { name: "relay_send", input: { to: "claude-peer", text: "hi claude, copilot here" } },
        { name: "relay_send", input: { to: "opencode-peer", text: "hi opencode, copilot here" } }
      ],
      text: "Sent both."
    })
    apis.push(copilotApi)
    const copilot = await runCopilot(world, copilotApi.url, "go", { RELAY_PEER_ID: "copilot-peer" })
    await claude.next("Claude gets Copilot's message", (n) => n.meta.from === "copilot-peer" && n.content.includes("hi claude, copilot here"), 90_000).catch((error) => {
      throw new Error(`${error}\n--- copilot output:\n${copilot.output()}\n--- logs:\n${copilot.logs().slice(-6000)}`)
    })
    expect(await copilot.exit).toBe(0)

    // OpenCode's session holds Claude's and Copilot's messages, each with its sender.
    const texts = await waitFor("both messages in the OpenCode session", async () => {
      const list: Array<any> = await opencode.api("GET", `/session/${session.id}/message`)
      const all = list.map(textOf).join("\n")
      return all.includes("hi opencode, claude here") && all.includes("hi opencode, copilot here") ? all : undefined
    })
    expect(texts).toMatch(/\[relay message from="claude-peer"[^\n]*\]\n<peer_message[^>]*>\nhi opencode, claude here/)
    expect(texts).toMatch(/\[relay message from="copilot-peer"[^\n]*\]\n<peer_message[^>]*>\nhi opencode, copilot here/)

    // Copilot's model was handed Claude's and OpenCode's messages.
    const seenByCopilot = copilotApi.requests.map((body) => JSON.stringify(body.messages)).join("\n")
    expect(seenByCopilot).toMatch(/from=\\"claude-peer\\"[^]*hi copilot, claude here/)
    expect(seenByCopilot).toMatch(/from=\\"opencode-peer\\"[^]*hi copilot, opencode here/)
  })
})
