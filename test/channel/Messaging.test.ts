/**
 * Stored messaging through the channel: direct messages, replies to them, delivery state, groups.
 * Real channel processes over MCP stdio against a real hub with its store in a temporary RELAY_HOME.
 * Behaviour numbers refer to behaviours.md.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ChannelSession, cleanup, type Notification, startChannel, startHub, startPeers, tempHome, waitFor } from "./Harness.ts"

const MetaKey = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const expectClaudeShape = (notification: Notification) => {
  expect(typeof notification.content).toBe("string")
  for (const [key, value] of Object.entries(notification.meta)) {
    expect(key).toMatch(MetaKey)
    expect(typeof value).toBe("string")
  }
}

let relayHome: string
let alice: ChannelSession
let bob: ChannelSession

beforeAll(async () => {
  relayHome = tempHome()
  await startHub(relayHome)
  ;[alice, bob] = (await startPeers(relayHome, ["alice", "bob"])) as [ChannelSession, ChannelSession]
})

afterAll(async () => {
  await cleanup()
})

describe("direct messages (behaviours 20, 22, 23, 25)", () => {
  it("relay_send to a live peer is delivered and arrives with string from, msg_id, ts", async () => {
    const sent = await alice.call("relay_send", { to: "bob", text: "hi" })
    expect(sent.isError).toBe(false)
    expect(sent.json).toMatchObject({ ok: true, status: "delivered" })
    const note = await bob.next("bob gets hi", (n) => n.meta.msg_id === sent.json.msg_id)
    expectClaudeShape(note)
    expect(note.meta).toEqual({ kind: "message", from: "alice", msg_id: sent.json.msg_id, ts: expect.any(String) })
    expect(note.content).toMatch(/^<peer_message from="alice" kind="message" trust="untrusted">\nhi\n<\/peer_message>/)
  })

  it("urgent and reply_to reach the meta; absent otherwise", async () => {
    const sent = await alice.call("relay_send", { to: "bob", text: "prod is down", urgent: true, reply_to: "m-earlier" })
    const note = await bob.next("bob gets the urgent one", (n) => n.meta.msg_id === sent.json.msg_id)
    expect(note.meta).toMatchObject({ urgent: "true", reply_to: "m-earlier" })
  })

  it("a pushed message is confirmed, so relay_inbox does not return it again and its status is past queued", async () => {
    const sent = await alice.call("relay_send", { to: "bob", text: "confirm me" })
    await bob.next("bob gets it", (n) => n.meta.msg_id === sent.json.msg_id)
    const status = await waitFor("the hub to record delivery", async () => {
      const result = await alice.call("relay_status", { msg_id: sent.json.msg_id })
      return !result.isError && result.json.state !== "queued" ? result : undefined
    })
    expect(["delivered", "read"]).toContain(status.json.state)
    const inbox = await bob.call("relay_inbox")
    expect(inbox.isError).toBe(false)
    expect(inbox.json.messages.map((m: { msg_id: string }) => m.msg_id)).not.toContain(sent.json.msg_id)
  })

  it("relay_reply with a received msg_id reaches the sender with reply_to set to it (behaviour 25)", async () => {
    const sent = await alice.call("relay_send", { to: "bob", text: "can you review PR 12?" })
    const received = await bob.next("bob gets the request", (n) => n.meta.msg_id === sent.json.msg_id)
    const replied = await bob.call("relay_reply", { ask_id: received.meta.msg_id as string, text: "on it" })
    expect(replied.json).toMatchObject({ ok: true })
    const answer = await alice.next("alice gets the answer", (n) => n.meta.kind === "message" && n.meta.reply_to === sent.json.msg_id)
    expectClaudeShape(answer)
    expect(answer.meta.from).toBe("bob")
    expect(answer.content).toContain("on it")
  })

  it("a message to a peer that is not connected is queued and reaches it when it connects (behaviour 21)", async () => {
    const sent = await alice.call("relay_send", { to: "carol", text: "for later" })
    expect(sent.json).toMatchObject({ ok: true, status: "queued" })
    const carol = await startChannel({ relayHome, peerId: "carol", env: { RELAY_AUTOSPAWN: "0" } })
    const note = await carol.next("carol gets it on connect", (n) => n.meta.msg_id === sent.json.msg_id)
    expect(note.content).toContain("for later")
  })
})

describe("Claude Code without channels", () => {
  it("gets no pushes it would drop: the message stays unread and relay_inbox returns it", async () => {
    // Announces itself as Claude Code; its parent (this test process) has no channel flags.
    const dana = await startChannel({ relayHome, peerId: "dana", clientName: "claude-code", env: { RELAY_AUTOSPAWN: "0" } })
    await waitFor("dana registered", async () => ((await alice.call("relay_peers")).json.peers.some((p: { name: string }) => p.name === "dana") ? true : undefined))
    const sent = await alice.call("relay_send", { to: "dana", text: "did you see this?" })
    expect(sent.json.ok).toBe(true)
    await waitFor("dana's channel to receive and hold back the push", () => (dana.stderr.includes("push incoming_message not shown") ? true : undefined))
    expect(dana.notifications).toEqual([])
    const inbox = await dana.call("relay_inbox")
    expect(inbox.json.messages).toEqual([expect.objectContaining({ msg_id: sent.json.msg_id, from: "alice", text: "did you see this?" })])
  })
})

describe("groups (behaviour 37)", () => {
  it("a group message is pushed to online members with group, from, string msg_id and ts", async () => {
    const created = await alice.call("relay_group_create", { name: "backend", members: ["bob"] })
    expect(created.isError).toBe(false)
    expect(created.json.members).toEqual(expect.arrayContaining(["alice", "bob"]))
    const sent = await alice.call("relay_group_send", { group: "backend", text: "schema change at noon" })
    expect(sent.json).toMatchObject({ ok: true })
    const note = await bob.next("bob gets the group message", (n) => n.meta.kind === "group" && n.content.includes("schema change at noon"))
    expectClaudeShape(note)
    expect(note.meta).toMatchObject({ group: "backend", from: "alice", msg_id: expect.any(String), ts: expect.any(String) })
    const info = await bob.call("relay_group_info", { group: "backend" })
    expect(info.json).toMatchObject({ ok: true, admin: "alice" })
    const list = await bob.call("relay_group_list")
    expect(list.json.groups.map((g: { name: string }) => g.name)).toContain("backend")
    const history = await bob.call("relay_group_history", { group: "backend", limit: 10 })
    expect(history.isError).toBe(false)
    expect(Array.isArray(history.json.messages)).toBe(true)
  })

  it("admin rights can be handed over; a non-admin cannot delete", async () => {
    expect((await bob.call("relay_group_delete", { group: "backend" })).json.code).toBe("not_admin")
    expect((await alice.call("relay_group_transfer", { group: "backend", peer: "bob" })).json).toMatchObject({ ok: true })
    expect((await bob.call("relay_group_info", { group: "backend" })).json.admin).toBe("bob")
    expect((await bob.call("relay_group_delete", { group: "backend" })).json).toMatchObject({ ok: true })
    expect((await alice.call("relay_group_info", { group: "backend" })).json.code).toBe("group_not_found")
  })
})
