/**
 * A protocol-6 session that renames takes over the mail that waited under its new name: it is
 * pushed right away (not on the next reconnect), and what was already pushed on this connection is
 * not pushed again.
 */
import { describe, expect, it } from "vitest"
import { startInProcessHub } from "../support/TestHub.ts"
import { useCleanup } from "./helpers.ts"

describe("rename and queued mail (v6)", () => {
  const use = useCleanup()

  it("pushes mail waiting under the new name once, and does not repeat earlier pushes", async () => {
    const hub = use.hub(await startInProcessHub())
    const sender = await use.peer(hub, "sender")
    const alice = await use.peer(hub, "alice", "6")
    const before = await sender.request({ type: "send", to: "alice", text: "to alice, unconfirmed" })
    expect(before).toMatchObject({ type: "send_ack", status: "delivered" })
    await alice.waitFor((f) => f.type === "incoming_message" && f.msg_id === before.msg_id)
    const waiting = await sender.request({ type: "send", to: "backend", text: "for whoever is backend" })
    expect(waiting).toMatchObject({ type: "send_ack", status: "queued" })

    expect(await alice.request({ type: "rename", new_name: "backend" })).toMatchObject({ type: "ack" })
    const pushed = await alice.waitFor((f) => f.type === "incoming_message" && f.msg_id === waiting.msg_id)
    expect(pushed).toMatchObject({ from: "sender", text: "for whoever is backend" })
    // A round trip later, nothing else arrived: the unconfirmed push before the rename stayed single.
    await alice.request({ type: "ping" })
    expect(alice.pushes("incoming_message").map((f) => f.msg_id)).toEqual([before.msg_id, waiting.msg_id])

    // Confirmed, both are delivered.
    expect(await alice.request({ type: "deliver_ack", msg_ids: [before.msg_id, waiting.msg_id] })).toMatchObject({ confirmed: 2 })
    const status = await sender.request({ type: "msg_status", msg_id: waiting.msg_id })
    expect(status).toMatchObject({ state: "delivered", to: "backend" })
  })
})
