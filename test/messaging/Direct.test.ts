/**
 * Direct messages at the wire level (behaviours 20–25 and 27, plus the v6 delivery ladder and
 * idempotent retries): the full hub in this process with its SQLite file in a temp data dir, real
 * Unix socket, plain NDJSON clients.
 */
import { describe, expect, it } from "vitest"
import { startInProcessHub } from "../support/TestHub.ts"
import { drainInbox, isoTimestamp, pipeline, pushesSince, settle, useCleanup, waitPushes } from "./helpers.ts"

const use = useCleanup()
const newHub = async () => use.hub(await startInProcessHub())

describe("direct messages (wire, SQLite file)", () => {
  it("20: a send to an online peer is delivered and pushed with from, msg_id, ts", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const ack = await alice.request({ type: "send", to: "bob", text: "hi" })
    expect(ack).toEqual({ type: "send_ack", msg_id: expect.any(String), status: "delivered", req_id: ack.req_id })
    const pushed = await bob.waitFor((f) => f.type === "incoming_message")
    expect(pushed).toEqual({ type: "incoming_message", msg_id: ack.msg_id, from: "alice", text: "hi", reply_to: null, ts: expect.stringMatching(isoTimestamp) })
    expect(Number.isNaN(Date.parse(pushed.ts))).toBe(false)
    // A v5 push counts as delivered: it is not unread any more.
    expect((await bob.request({ type: "inbox" })).messages).toEqual([])
  })

  it("21: a send to a never-seen or disconnected name is queued, then read by inbox (v5) or pushed on connect (v6)", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const first = await alice.request({ type: "send", to: "bob", text: "for later" })
    expect(first).toMatchObject({ type: "send_ack", status: "queued", msg_id: expect.any(String) })

    const bob = await use.peer(hub, "bob")
    await settle(bob)
    expect(pushesSince(bob, "incoming_message")).toEqual([]) // v5 sessions are not pushed queued mail
    const inbox = await bob.request({ type: "inbox" })
    expect(inbox).toMatchObject({ type: "inbox_result", remaining: 0 })
    expect(inbox.messages).toEqual([{ msg_id: first.msg_id, from: "alice", text: "for later", reply_to: null, ts: expect.stringMatching(isoTimestamp) }])

    // Gone again: queued again; a protocol-6 session gets it pushed when it registers.
    bob.close()
    await bob.waitClosed()
    await settle(alice)
    let second = await alice.request({ type: "send", to: "bob", text: "while you were out" })
    for (let i = 0; second.status !== "queued" && i < 50; i++) {
      // The hub may not have seen the disconnect yet; a delivered send to a closing socket is fine.
      await new Promise((r) => setTimeout(r, 20))
      second = await alice.request({ type: "send", to: "bob", text: "while you were out" })
    }
    expect(second.status).toBe("queued")
    const bob6 = await use.peer(hub, "bob", "6")
    const pushed = await bob6.waitFor((f) => f.type === "incoming_message" && f.msg_id === second.msg_id)
    expect(pushed).toMatchObject({ from: "alice", text: "while you were out", reply_to: null })
  })

  it("22: urgent only when true, reply_to carried, in pushes and in the inbox", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const sends = [
      { text: "u", urgent: true },
      { text: "nu", urgent: false },
      { text: "plain" },
      { text: "re", reply_to: "m_abc_1" }
    ]
    const acks = await pipeline(alice, sends.map((s) => ({ type: "send", to: "bob", ...s })), "s")
    const pushes = await waitPushes(bob, "incoming_message", 4)
    expect(pushes.map((p) => p.text)).toEqual(["u", "nu", "plain", "re"])
    expect(pushes[0]).toMatchObject({ urgent: true, reply_to: null })
    for (const p of pushes.slice(1)) expect(p).not.toHaveProperty("urgent")
    expect(pushes[3]!.reply_to).toBe("m_abc_1")
    expect(pushes.map((p) => p.msg_id)).toEqual(acks.map((a) => a.msg_id))

    // The same to an offline recipient, read through the inbox.
    await pipeline(alice, sends.map((s) => ({ type: "send", to: "carol", ...s })), "c")
    const carol = await use.peer(hub, "carol")
    const { messages } = await drainInbox(carol)
    expect(messages.map((m) => m.text)).toEqual(["u", "nu", "plain", "re"])
    expect(messages[0]!.urgent).toBe(true)
    for (const m of messages.slice(1)) expect(m).not.toHaveProperty("urgent")
    expect(messages.map((m) => m.reply_to)).toEqual([null, null, null, "m_abc_1"])
  })

  it("23: inbox pages oldest first, default 20, max 100, with remaining and since_id", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const acks = await pipeline(alice, Array.from({ length: 130 }, (_, i) => ({ type: "send", to: "bob", text: `m${i}` })), "s")
    expect(acks.every((a) => a.type === "send_ack" && a.status === "queued")).toBe(true)
    const bob = await use.peer(hub, "bob")

    const first = await bob.request({ type: "inbox" })
    expect(first.messages.map((m: any) => m.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`))
    expect(first.remaining).toBe(110)
    expect(first.messages.map((m: any) => m.msg_id)).toEqual(acks.slice(0, 20).map((a) => a.msg_id))

    // since_id skips to after a given message, leaving the earlier ones unread.
    const skip = await bob.request({ type: "inbox", limit: 5, since_id: acks[99]!.msg_id })
    expect(skip.messages.map((m: any) => m.text)).toEqual(["m100", "m101", "m102", "m103", "m104"])
    expect(skip.remaining).toBe(25)

    const big = await bob.request({ type: "inbox", limit: 100 })
    expect(big.messages).toHaveLength(100)
    expect(big.messages[0].text).toBe("m20")
    expect(big.messages[99].text).toBe("m124")
    expect(big.remaining).toBe(5)
    const rest = await bob.request({ type: "inbox", limit: 100 })
    expect(rest.messages.map((m: any) => m.text)).toEqual(["m125", "m126", "m127", "m128", "m129"])
    expect(rest.remaining).toBe(0)
    expect((await bob.request({ type: "inbox" })).messages).toEqual([])

    const tooMany = await bob.request({ type: "inbox", limit: 101 })
    expect(tooMany).toMatchObject({ type: "err", code: "bad_args" })
  })

  it("23: pushed and confirmed is not unread again (v5 push; v6 only after deliver_ack, else pushed again on reconnect)", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const v5 = await use.peer(hub, "bob")
    const v6 = await use.peer(hub, "carol", "6")
    await alice.request({ type: "send", to: "bob", text: "to v5" })
    const toV6 = await alice.request({ type: "send", to: "carol", text: "to v6" })
    await v5.waitFor((f) => f.type === "incoming_message")
    await v6.waitFor((f) => f.type === "incoming_message")
    expect((await v5.request({ type: "inbox" })).messages).toEqual([])

    // Not confirmed yet: still unread, and a new connection gets it pushed again (at least once).
    v6.close()
    await v6.waitClosed()
    const v6again = await use.peer(hub, "carol", "6")
    const again = await v6again.waitFor((f) => f.type === "incoming_message")
    expect(again).toMatchObject({ msg_id: toV6.msg_id, text: "to v6" })
    const confirmed = await v6again.request({ type: "deliver_ack", msg_ids: [toV6.msg_id] })
    expect(confirmed).toMatchObject({ type: "ack", confirmed: 1 })
    expect((await v6again.request({ type: "inbox" })).messages).toEqual([])

    const live = await alice.request({ type: "send", to: "carol", text: "live v6" })
    await v6again.waitFor((f) => f.type === "incoming_message" && f.msg_id === live.msg_id)
    const unconfirmed = await v6again.request({ type: "inbox" })
    expect(unconfirmed.messages.map((m: any) => m.msg_id)).toEqual([live.msg_id])
  })

  it("24: 501 messages to an offline v5 peer: the newest 500 kept, inbox reports 1 dropped", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const acks = await pipeline(alice, Array.from({ length: 501 }, (_, i) => ({ type: "send", to: "bob", text: `m${i}` })), "s")
    expect(acks.filter((a) => a.type === "send_ack")).toHaveLength(501)
    const bob = await use.peer(hub, "bob")
    const { messages, dropped } = await drainInbox(bob)
    expect(dropped).toBe(1)
    expect(messages.map((m) => m.text)).toEqual(Array.from({ length: 500 }, (_, i) => `m${i + 1}`))
    // Reported once, not on every call.
    expect((await bob.request({ type: "inbox" })).dropped).toBeUndefined()
  })

  it("24: 600 messages to an offline v6 peer: 500 pushed on connect, then a mailbox_notice of 100 dropped", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    await pipeline(alice, Array.from({ length: 600 }, (_, i) => ({ type: "send", to: "bob", text: `m${i}` })), "s")
    const bob = await use.peer(hub, "bob", "6")
    const notice = await bob.waitFor((f) => f.type === "mailbox_notice", 10_000)
    expect(notice).toMatchObject({ dropped: 100, message: expect.stringContaining("500") })
    const pushed = pushesSince(bob, "incoming_message")
    expect(pushed.map((p) => p.text)).toEqual(Array.from({ length: 500 }, (_, i) => `m${i + 100}`))
  })

  it("25: a reply to a received message id reaches the sender with reply_to; other ids are refused", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const carol = await use.peer(hub, "carol")
    const sent = await alice.request({ type: "send", to: "bob", text: "question?" })
    await bob.waitFor((f) => f.type === "incoming_message")
    const answer = await bob.request({ type: "reply", ask_id: sent.msg_id, text: "answer" })
    expect(answer).toMatchObject({ type: "send_ack", status: "delivered", msg_id: expect.any(String) })
    const back = await alice.waitFor((f) => f.type === "incoming_message")
    expect(back).toMatchObject({ from: "bob", text: "answer", reply_to: sent.msg_id, msg_id: answer.msg_id })

    // Carol did not receive that message, and alice sent (not received) it: neither can reply to it.
    expect(await carol.request({ type: "reply", ask_id: sent.msg_id, text: "x" })).toMatchObject({ type: "err", code: "unknown_ask" })
    expect(await alice.request({ type: "reply", ask_id: sent.msg_id, text: "x" })).toMatchObject({ type: "err", code: "unknown_ask" })
    await settle(bob)
    expect(pushesSince(bob, "incoming_message")).toHaveLength(1)
  })

  it("27: arguments that fail validation answer bad_args at once with the req_id; the connection goes on", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bad: Array<Record<string, unknown>> = [
      { type: "send", to: "bob", text: "x".repeat(524_289) },
      { type: "send", to: "bad name!", text: "x" },
      { type: "send", to: "b".repeat(65), text: "x" },
      { type: "send", to: "bob", text: 42 },
      { type: "send", to: "bob" },
      { type: "send", to: "bob", text: "x", urgent: "yes" },
      { type: "send", to: "bob", text: "x", reply_to: "r".repeat(257) },
      { type: "inbox", limit: 0 },
      { type: "inbox", limit: 101 },
      { type: "inbox", limit: "5" },
      { type: "inbox", since_id: "s".repeat(65) },
      { type: "reply", ask_id: "", text: "x" },
      { type: "deliver_ack", msg_ids: "m_1" },
      { type: "msg_status" }
    ]
    // One pipelined write: every bad line gets its own answer, none waits for a timeout.
    const answers = await pipeline(alice, bad, "bad", 5_000)
    answers.forEach((answer, i) => {
      expect(answer, JSON.stringify(bad[i]).slice(0, 100)).toMatchObject({ type: "err", code: "bad_args", req_id: `bad${i}` })
    })
    // Nothing was stored for bob.
    const bob = await use.peer(hub, "bob")
    expect((await bob.request({ type: "inbox" })).messages).toEqual([])
    expect(await alice.request({ type: "send", to: "bob", text: "ok" })).toMatchObject({ type: "send_ack" })
  })

  it("sends before registering are refused with not_registered", async () => {
    const hub = await newHub()
    const anon = await use.raw(hub)
    expect(await anon.request({ type: "send", to: "bob", text: "x" })).toMatchObject({ type: "err", code: "not_registered" })
    expect(await anon.request({ type: "inbox" })).toMatchObject({ type: "err", code: "not_registered" })
  })

  it("per sender → recipient FIFO over a pipelined burst, live", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const acks = await pipeline(alice, Array.from({ length: 300 }, (_, i) => ({ type: "send", to: "bob", text: `m${i}` })), "s")
    const pushes = await waitPushes(bob, "incoming_message", 300)
    expect(pushes.map((p) => p.text)).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`))
    expect(pushes.map((p) => p.msg_id)).toEqual(acks.map((a) => a.msg_id))
    expect(new Set(acks.map((a) => a.msg_id)).size).toBe(300)
  })

  it("v6: msg_status goes queued → delivered → read, with a receipt when notify_read", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice", "6")
    const eve = await use.peer(hub, "eve", "6")
    const watched = await alice.request({ type: "send", to: "bob", text: "tell me", notify_read: true })
    const quiet = await alice.request({ type: "send", to: "bob", text: "no receipt" })
    expect(watched.status).toBe("queued")
    const status = (client = alice, id = watched.msg_id) => client.request({ type: "msg_status", msg_id: id })
    expect(await status()).toMatchObject({ type: "msg_status_result", msg_id: watched.msg_id, from: "alice", to: "bob", state: "queued" })

    const bob = await use.peer(hub, "bob", "6")
    await waitPushes(bob, "incoming_message", 2)
    expect((await status()).state).toBe("queued") // pushed, not yet confirmed by the v6 client
    expect(await bob.request({ type: "deliver_ack", msg_ids: [watched.msg_id, quiet.msg_id] })).toMatchObject({ confirmed: 2 })
    expect((await status()).state).toBe("delivered")
    expect((await status(bob)).state).toBe("delivered") // the recipient may ask too
    expect(await status(eve)).toMatchObject({ type: "err", code: "bad_args" }) // a third party may not

    expect(await bob.request({ type: "mark_read", msg_ids: [watched.msg_id, quiet.msg_id] })).toMatchObject({ type: "ack", read: 2 })
    const receipt = await alice.waitFor((f) => f.type === "receipt")
    expect(receipt).toMatchObject({ msg_id: watched.msg_id, to: "bob", state: "read" })
    expect((await status()).state).toBe("read")
    expect((await status(alice, quiet.msg_id)).state).toBe("read")
    await settle(alice)
    expect(pushesSince(alice, "receipt")).toHaveLength(1) // none for the message that did not ask
    // Reading again changes nothing and sends no second receipt.
    expect(await bob.request({ type: "mark_read", msg_ids: [watched.msg_id] })).toMatchObject({ read: 0 })
    await settle(alice)
    expect(pushesSince(alice, "receipt")).toHaveLength(1)
  })

  it("v6: a v5 inbox read also sends the receipt; a v5 live push counts as delivered", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice", "6")
    const queued = await alice.request({ type: "send", to: "bob", text: "q", notify_read: true })
    const bob = await use.peer(hub, "bob")
    const live = await alice.request({ type: "send", to: "bob", text: "live" })
    expect(live.status).toBe("delivered")
    await bob.waitFor((f) => f.type === "incoming_message")
    expect((await alice.request({ type: "msg_status", msg_id: live.msg_id })).state).toBe("delivered")
    await bob.request({ type: "inbox" })
    expect(await alice.waitFor((f) => f.type === "receipt")).toMatchObject({ msg_id: queued.msg_id, state: "read", to: "bob" })
  })

  it("v6: a retried send with the same client_id is stored once and answers the same msg_id", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice", "6")
    const carol = await use.peer(hub, "carol", "6")
    const first = await alice.request({ type: "send", to: "bob", text: "once", client_id: "c-1" })
    const retry = await alice.request({ type: "send", to: "bob", text: "once", client_id: "c-1" })
    expect(first).toMatchObject({ status: "queued" })
    expect(retry).toMatchObject({ type: "send_ack", msg_id: first.msg_id, duplicate: true })
    // The key is per sender: carol's c-1 is another message.
    const other = await carol.request({ type: "send", to: "bob", text: "mine", client_id: "c-1" })
    expect(other.msg_id).not.toBe(first.msg_id)
    expect(other).not.toHaveProperty("duplicate")
    const bob = await use.peer(hub, "bob")
    const { messages } = await drainInbox(bob)
    expect(messages.map((m) => m.text)).toEqual(["once", "mine"])
  })
})
