/**
 * The relay plugin inside the real OpenCode (pinned in test/clients/package.json): `opencode serve`
 * on loopback, the plugin installed with `relay install opencode --scope project`, the model API
 * faked (FakeAnthropic.ts). See shared/docs/real-clients.md.
 */
import { execFileSync } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { type FakeAnthropic, startFakeAnthropic } from "./FakeAnthropic.ts"
import { opencodeBin, pinned, startOpenCode, startWorld, stopAll, waitFor } from "./Harnesses.ts"

const apis: Array<FakeAnthropic> = []
afterEach(async () => {
  await stopAll()
  await Promise.all(apis.splice(0).map((api) => api.close()))
})

const fakeApi = async (script: Parameters<typeof startFakeAnthropic>[0]) => {
  const api = await startFakeAnthropic(script)
  apis.push(api)
  return api
}

const textOf = (message: any): string => (message.parts as Array<any>).filter((p) => p.type === "text").map((p) => p.text).join("\n")

describe(`OpenCode ${pinned["opencode-ai"]}`, () => {
  it("runs the pinned version", () => {
    expect(execFileSync(opencodeBin, ["--version"], { encoding: "utf8" }).trim()).toBe(pinned["opencode-ai"])
  })

  it("a new session registers its peer; a peer's message lands in it without a model turn, carrying sender and id; deleting the session removes the peer", async () => {
    const world = await startWorld()
    const api = await fakeApi({ text: "should never be asked" })
    const opencode = await startOpenCode(world, api.url)
    const session = await opencode.api("POST", "/session", { title: "Billing Service" })
    await waitFor(`the session's peer (${opencode.output()})`, async () => ((await world.peerNames()).includes("billing-service") ? true : undefined), 30_000)
    const tools: Array<string> = await opencode.api("GET", "/experimental/tool/ids")
    expect(tools).toEqual(expect.arrayContaining(["relay_send", "relay_peers", "relay_reply", "relay_inbox", "relay_status"]))

    const bob = await world.peer("bob")
    const sent = await bob.request({ type: "send", to: "billing-service", text: "can you check invoice 42?" })
    expect(sent).toMatchObject({ type: "send_ack", status: "delivered" })
    const messages = await waitFor("the pushed message in the session", async () => {
      const list: Array<any> = await opencode.api("GET", `/session/${session.id}/message`)
      // The message is stored a moment before its text part.
      return list.length > 0 && textOf(list[0]) !== "" ? list : undefined
    })
    expect(messages).toHaveLength(1)
    expect(messages[0].info.role).toBe("user")
    const text = textOf(messages[0])
    expect(text).toMatch(new RegExp(`^\\[relay message from="bob" msg_id="${sent.msg_id}"`))
    expect(text).toContain('<peer_message from="bob" kind="message" trust="untrusted">\ncan you check invoice 42?\n</peer_message>')
    // The plugin confirmed it: delivered, not waiting in the mailbox.
    await waitFor("delivered", async () => ((await bob.request({ type: "msg_status", msg_id: sent.msg_id })).state === "delivered" ? true : undefined))
    // No model turn: still one message, and the model was never asked.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await opencode.api("GET", `/session/${session.id}/message`)).toHaveLength(1)
    expect(api.requests).toEqual([])

    await opencode.api("DELETE", `/session/${session.id}`)
    await waitFor("the peer to leave", async () => ((await world.peerNames()).includes("billing-service") ? undefined : true))
  })

  it("the agent loop calls relay_send and the other peer receives it; the model saw the relay instructions and the pushed message", async () => {
    const world = await startWorld()
    const bob = await world.peer("bob")
    const api = await fakeApi({ tool: { name: "relay_send", input: { to: "bob", text: "hello from opencode" } }, text: "Sent." })
    const opencode = await startOpenCode(world, api.url)
    const session = await opencode.api("POST", "/session", { title: "Frontend" })
    await waitFor("the session's peer", async () => ((await world.peerNames()).includes("frontend") ? true : undefined), 30_000)
    // A message waiting in the session before the turn: the model must see it, framed.
    const earlier = await bob.request({ type: "send", to: "frontend", text: "ping me when done" })
    await waitFor("the push", async () => {
      const list: Array<any> = await opencode.api("GET", `/session/${session.id}/message`)
      return list.length === 1 && textOf(list[0]) !== "" ? true : undefined
    })

    await opencode.api("POST", `/session/${session.id}/message`, { parts: [{ type: "text", text: "go" }] })
    const incoming = await bob.waitFor((frame) => frame.type === "incoming_message", 30_000)
    expect(incoming).toMatchObject({ from: "frontend", text: "hello from opencode" })

    const withTools = api.requests.filter((body) => (body.tools ?? []).some((tool: any) => tool.name === "relay_send"))
    expect(withTools.length).toBeGreaterThan(0)
    const first = withTools[0]
    expect(JSON.stringify(first.system)).toContain('This session is the relay peer \\"frontend\\"')
    expect(JSON.stringify(first.messages)).toContain(`msg_id=\\"${earlier.msg_id}\\"`)
    const send = first.tools.find((tool: any) => tool.name === "relay_send")
    expect(send.input_schema.required).toEqual(["to", "text"])
    // The tool result went back to the model.
    expect(JSON.stringify(api.requests.at(-1)?.messages)).toMatch(/tool_result[^]*\\"status\\":\\"delivered\\"/)
  })
})
