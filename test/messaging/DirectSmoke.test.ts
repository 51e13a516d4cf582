import { afterEach, describe, expect, it } from "vitest"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { startInProcessHub, type TestHub } from "../support/TestHub.ts"

describe("direct smoke", () => {
  let hub: TestHub
  afterEach(async () => hub?.stop())

  it("delivers live and queues offline", async () => {
    hub = await startInProcessHub()
    const a = await NdjsonClient.connect(hub.socketPath)
    const b = await NdjsonClient.connect(hub.socketPath)
    await a.register("alice")
    await b.register("bob")
    const ack = await a.request({ type: "send", to: "bob", text: "hi" })
    expect(ack).toMatchObject({ type: "send_ack", status: "delivered" })
    const pushed = await b.waitFor((f) => f.type === "incoming_message")
    expect(pushed).toMatchObject({ from: "alice", text: "hi", msg_id: ack.msg_id, reply_to: null })
    const q = await a.request({ type: "send", to: "carol", text: "later", urgent: true })
    expect(q).toMatchObject({ status: "queued" })
    const c = await NdjsonClient.connect(hub.socketPath)
    await c.register("carol")
    const inbox = await c.request({ type: "inbox" })
    expect(inbox).toMatchObject({ type: "inbox_result", remaining: 0, messages: [{ from: "alice", text: "later", urgent: true }] })
    const again = await c.request({ type: "inbox" })
    expect(again.messages).toEqual([])
    const reply = await c.request({ type: "reply", ask_id: q.msg_id, text: "got it" })
    expect(reply.type).toBe("send_ack")
    const back = await a.waitFor((f) => f.type === "incoming_message")
    expect(back).toMatchObject({ from: "carol", text: "got it", reply_to: q.msg_id })
    const g = await a.request({ type: "group_create", name: "team", members: ["bob", "carol", "bad name!"] })
    expect(g).toMatchObject({ type: "err", code: "bad_args" })
    const g2 = await a.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    expect(g2).toMatchObject({ type: "group_created", group: "team" })
    const gs = await b.request({ type: "group_send", group: "team", text: "hello team" })
    expect(gs).toMatchObject({ type: "group_ack" })
    await c.waitFor((f) => f.type === "incoming_group_msg" && f.text === "hello team")
    const info = await c.request({ type: "group_info", group: "team" })
    expect(info).toMatchObject({ admin: "alice", unread_count: 2 })
    for (const x of [a, b, c]) x.close()
  })
})
