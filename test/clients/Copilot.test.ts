/**
 * The relay extension inside the real GitHub Copilot CLI (pinned in test/clients/package.json), in
 * bring-your-own-key mode against the fake model API, installed with `relay install copilot`.
 * See shared/docs/real-clients.md.
 */
import { execFileSync } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { type FakeAnthropic, startFakeAnthropic } from "./FakeAnthropic.ts"
import { copilotBin, pinned, runCopilot, startWorld, stopAll, waitFor } from "./Harnesses.ts"

const apis: Array<FakeAnthropic> = []
afterEach(async () => {
  await stopAll()
  await Promise.all(apis.splice(0).map((api) => api.close()))
})

describe(`GitHub Copilot CLI ${pinned["@github/copilot"]}`, () => {
  it("runs the pinned version", () => {
    expect(execFileSync(copilotBin, ["--version"], { encoding: "utf8" })).toContain(pinned["@github/copilot"])
  })

  it("the extension loads and registers; the agent calls relay_send, the peer receives it; a message injected with session.send reaches the model", async () => {
    const world = await startWorld()
    const bob = await world.peer("bob")
    // Waiting in the mailbox: pushed when the extension registers, then injected with session.send.
    const queued = await bob.request({ type: "send", to: "copilot-peer", text: "what branch are you on?" })
    expect(queued).toMatchObject({ type: "send_ack", status: "queued" })
    const api = await startFakeAnthropic({ tool: { name: "relay_send", input: { to: "bob", text: "hello from copilot" } }, text: "Done." })
    apis.push(api)

    const copilot = await runCopilot(world, api.url, "go", { RELAY_PEER_ID: "copilot-peer" })
    const incoming = await bob.waitFor((frame) => frame.type === "incoming_message", 90_000).catch((error) => {
      throw new Error(`${error}\n--- copilot output:\n${copilot.output()}\n--- logs:\n${copilot.logs().slice(-6000)}`)
    })
    expect(incoming).toMatchObject({ from: "copilot-peer", text: "hello from copilot" })
    expect(await copilot.exit).toBe(0)
    expect(copilot.logs()).toMatch(/loaded 1 extension/i)

    // The injected message reached the model, framed, with the ids to answer it.
    const injected = await waitFor("a model request holding the injected message", () =>
      api.requests.map((body) => JSON.stringify(body.messages)).find((messages) => messages.includes("what branch are you on?"))
    )
    expect(injected).toContain(`[relay message from=\\"bob\\" msg_id=\\"${queued.msg_id}\\"`)
    expect(injected).toContain('trust=\\"untrusted\\"')
    // Shown to the session, so confirmed to the hub.
    expect((await bob.request({ type: "msg_status", msg_id: queued.msg_id })).state).toBe("delivered")
    // The session ended: the extension's peer left the hub.
    await waitFor("the peer to leave", async () => ((await world.peerNames()).includes("copilot-peer") ? undefined : true))
  })
})
