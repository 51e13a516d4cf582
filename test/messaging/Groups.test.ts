/**
 * Persistent groups at the wire level (behaviours 36–43, and 18 with stored state): the full hub in
 * this process with its SQLite file, real Unix socket, plain NDJSON clients.
 */
import { describe, expect, it } from "vitest"
import type { Frame, NdjsonClient } from "../support/NdjsonClient.ts"
import { startInProcessHub } from "../support/TestHub.ts"
import { drainInbox, isoTimestamp, pipeline, pushesSince, settle, useCleanup, waitPushes } from "./helpers.ts"

const use = useCleanup()
const newHub = async () => use.hub(await startInProcessHub())

const history = (client: NdjsonClient, group: string, limit?: number) =>
  client.request({ type: "group_history", group, ...(limit === undefined ? {} : { limit }) })

const texts = (frame: Frame): Array<string> => frame.messages.map((m: Frame) => m.text)

describe("groups (wire, SQLite file)", () => {
  it("36: create makes the caller admin; invalid member names are all reported and nothing is created", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const refused = await alice.request({ type: "group_create", name: "team", members: ["bob", "bad name!", "", "ok.name", "x".repeat(65)] })
    expect(refused).toMatchObject({ type: "err", code: "bad_args" })
    expect(refused.message).toContain('"bad name!"')
    expect(refused.message).toContain('""')
    expect(refused.message).toContain("x".repeat(60))
    expect(refused.message).not.toContain('"bob"')
    expect(refused.message).toContain("nothing was created")
    expect(await alice.request({ type: "group_info", group: "team" })).toMatchObject({ type: "err", code: "group_not_found" })

    // Offline and never-seen members are fine; the caller is a member whether or not listed.
    const created = await alice.request({ type: "group_create", name: "team", members: ["bob", "carol", "bob"] })
    expect(created).toMatchObject({ type: "group_created", group: "team" })
    expect([...created.members].sort()).toEqual(["alice", "bob", "carol"])
    const info = await alice.request({ type: "group_info", group: "team" })
    expect(info).toMatchObject({ type: "group_info_result", group: "team", admin: "alice" })
    expect(await alice.request({ type: "group_create", name: "team", members: [] })).toMatchObject({ type: "err", code: "bad_args" })
  })

  it("37: send pushes to online members (string msg_id, ts); offline members catch up with group_history, which advances their cursor; limit pages", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    await alice.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    const acks = await pipeline(alice, [1, 2, 3, 4, 5].map((i) => ({ type: "group_send", group: "team", text: `g${i}` })), "g")
    for (const ack of acks) expect(ack).toMatchObject({ type: "group_ack", group: "team", msg_id: expect.any(String) })
    const pushed = (await waitPushes(bob, "incoming_group_msg", 6)).filter((f) => f.kind !== "system")
    expect(pushed.map((p) => p.text)).toEqual(["g1", "g2", "g3", "g4", "g5"])
    for (const p of pushed) {
      expect(p).toEqual({ type: "incoming_group_msg", group: "team", from: "alice", text: p.text, msg_id: expect.any(String), ts: expect.stringMatching(isoTimestamp) })
    }
    expect(pushed.map((p) => p.msg_id)).toEqual(acks.map((a) => a.msg_id))
    await settle(alice)
    expect(pushesSince(alice, "incoming_group_msg").filter((f) => f.kind !== "system")).toEqual([]) // not echoed to the sender

    const carol = await use.peer(hub, "carol")
    const page1 = await history(carol, "team", 2)
    expect(page1).toMatchObject({ type: "group_messages", group: "team", unread_remaining: 4 })
    expect(page1.messages[0]).toMatchObject({ from: "relay", type: "system" }) // the creation notice
    expect(page1.messages[1]).toEqual({ id: acks[0]!.msg_id, from: "alice", text: "g1", ts: expect.stringMatching(isoTimestamp), type: "message" })
    const page2 = await history(carol, "team", 3)
    expect(texts(page2)).toEqual(["g2", "g3", "g4"])
    expect(page2.unread_remaining).toBe(1)
    const rest = await history(carol, "team")
    expect(texts(rest)).toEqual(["g5"])
    expect(rest.unread_remaining).toBe(0)
    expect((await history(carol, "team")).messages).toEqual([])
    expect(await history(carol, "team", 501)).toMatchObject({ type: "err", code: "bad_args" })
  })

  it("38: the newest 500 are kept and a newly invited member sees the retained history as unread", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    await alice.request({ type: "group_create", name: "big", members: [] })
    const acks = await pipeline(alice, Array.from({ length: 510 }, (_, i) => ({ type: "group_send", group: "big", text: `m${i}` })), "g")
    expect(acks.every((a) => a.type === "group_ack")).toBe(true)
    expect(await alice.request({ type: "group_invite", group: "big", peer: "dave" })).toMatchObject({ type: "group_ack" })

    const dave = await use.peer(hub, "dave")
    const list = await dave.request({ type: "group_list" })
    expect(list.groups).toEqual([{ name: "big", unread_count: 500 }])
    expect((await dave.request({ type: "group_info", group: "big" })).unread_count).toBe(500)
    const all = await history(dave, "big")
    expect(all.messages).toHaveLength(500)
    expect(all.unread_remaining).toBe(0)
    // Retained: the newest 500 of [created notice, m0..m509, invite notice].
    expect(all.messages.slice(0, 499).map((m: any) => m.text)).toEqual(Array.from({ length: 499 }, (_, i) => `m${i + 11}`))
    expect(all.messages[499]).toMatchObject({ type: "system", from: "relay", text: expect.stringContaining("dave") })
    expect((await dave.request({ type: "group_list" })).groups).toEqual([{ name: "big", unread_count: 0 }])
  })

  it("39: not_admin, not_member and group_not_found", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const eve = await use.peer(hub, "eve")
    await alice.request({ type: "group_create", name: "team", members: ["bob"] })
    const err = (code: string) => ({ type: "err", code, req_id: expect.any(String) })

    expect(await bob.request({ type: "group_invite", group: "team", peer: "eve" })).toMatchObject(err("not_admin"))
    expect(await bob.request({ type: "group_remove", group: "team", peer: "alice" })).toMatchObject(err("not_admin"))
    expect(await bob.request({ type: "group_delete", group: "team" })).toMatchObject(err("not_admin"))
    expect(await bob.request({ type: "group_transfer", group: "team", peer: "bob" })).toMatchObject(err("not_admin"))

    expect(await eve.request({ type: "group_send", group: "team", text: "let me in" })).toMatchObject(err("not_member"))
    expect(await eve.request({ type: "group_history", group: "team" })).toMatchObject(err("not_member"))
    expect(await eve.request({ type: "group_info", group: "team" })).toMatchObject(err("not_member"))
    expect(await eve.request({ type: "group_leave", group: "team" })).toMatchObject(err("not_member"))

    for (const frame of [
      { type: "group_send", group: "nope", text: "x" },
      { type: "group_history", group: "nope" },
      { type: "group_info", group: "nope" },
      { type: "group_invite", group: "nope", peer: "bob" },
      { type: "group_remove", group: "nope", peer: "bob" },
      { type: "group_leave", group: "nope" },
      { type: "group_delete", group: "nope" },
      { type: "group_transfer", group: "nope", peer: "bob" }
    ]) {
      expect(await alice.request(frame), frame.type).toMatchObject(err("group_not_found"))
    }

    // Nothing of the refused operations happened.
    const info = await alice.request({ type: "group_info", group: "team" })
    expect(info.admin).toBe("alice")
    expect(info.members.map((m: any) => m.name).sort()).toEqual(["alice", "bob"])
    expect(texts(await history(alice, "team")).some((t) => t.includes("let me in"))).toBe(false)
  })

  it("40: remove with a reason notifies the removed member and appends a system message; leave appends one too", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const carol = await use.peer(hub, "carol")
    await alice.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    await history(alice, "team")
    const bobFrom = bob.frames.length
    const carolFrom = carol.frames.length

    expect(await alice.request({ type: "group_remove", group: "team", peer: "bob", reason: "off topic" })).toMatchObject({ type: "group_ack" })
    const told = await bob.waitFor((f) => f.type === "incoming_group_msg" && f.kind === "system", 5000, bobFrom)
    expect(told).toMatchObject({ group: "team", from: "relay", msg_id: expect.any(String) })
    expect(told.text).toContain("bob")
    expect(told.text).toContain("off topic")
    await carol.waitFor((f) => f.type === "incoming_group_msg" && f.msg_id === told.msg_id, 5000, carolFrom)
    expect(await bob.request({ type: "group_send", group: "team", text: "still here?" })).toMatchObject({ type: "err", code: "not_member" })
    // The admin cannot remove a non-member, and a refused removal appends nothing.
    expect(await alice.request({ type: "group_remove", group: "team", peer: "bob" })).toMatchObject({ type: "err", code: "not_member" })

    expect(await carol.request({ type: "group_leave", group: "team" })).toMatchObject({ type: "group_ack" })
    // Alice removed bob herself, so only carol's leaving is news to her.
    const seen = await history(alice, "team")
    expect(seen.messages.map((m: any) => [m.type, m.from, m.text])).toEqual([["system", "relay", expect.stringContaining("carol left")]])
    // Both notices are in the history: a member invited now sees them (retained history is unread).
    expect(await alice.request({ type: "group_invite", group: "team", peer: "dave" })).toMatchObject({ type: "group_ack" })
    const dave = await use.peer(hub, "dave")
    const retained = (await history(dave, "team")).messages.map((m: any) => m.text as string)
    expect(retained.some((text: string) => text.includes("bob was removed") && text.includes("off topic"))).toBe(true)
    expect(retained.some((text: string) => text.includes("carol left"))).toBe(true)
    const info = await alice.request({ type: "group_info", group: "team" })
    expect(info.members.map((m: any) => m.name)).toEqual(["alice", "dave"])
  })

  it("41: the admin transfers rights and then leaves; an admin who just leaves hands over; the last one out deletes", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const carol = await use.peer(hub, "carol")
    await alice.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    expect(await alice.request({ type: "group_transfer", group: "team", peer: "eve" })).toMatchObject({ type: "err", code: "not_member" })
    expect(await alice.request({ type: "group_transfer", group: "team", peer: "carol" })).toMatchObject({ type: "group_ack" })
    expect((await bob.request({ type: "group_info", group: "team" })).admin).toBe("carol")
    expect(await alice.request({ type: "group_invite", group: "team", peer: "dave" })).toMatchObject({ code: "not_admin" })
    expect(await alice.request({ type: "group_leave", group: "team" })).toMatchObject({ type: "group_ack" })
    expect((await bob.request({ type: "group_info", group: "team" })).admin).toBe("carol")

    // Carol leaves without transferring: bob (the longest-standing member left) becomes admin.
    expect(await carol.request({ type: "group_leave", group: "team" })).toMatchObject({ type: "group_ack" })
    const info = await bob.request({ type: "group_info", group: "team" })
    expect(info.admin).toBe("bob")
    expect(info.members.map((m: any) => m.name)).toEqual(["bob"])
    const notices = texts(await history(bob, "team"))
    expect(notices.some((t) => t.includes("bob is now the admin"))).toBe(true)
    expect(await bob.request({ type: "group_invite", group: "team", peer: "dave" })).toMatchObject({ type: "group_ack" })
    expect(await bob.request({ type: "group_remove", group: "team", peer: "dave" })).toMatchObject({ type: "group_ack" })

    expect(await bob.request({ type: "group_leave", group: "team" })).toMatchObject({ type: "group_ack" })
    expect(await bob.request({ type: "group_info", group: "team" })).toMatchObject({ type: "err", code: "group_not_found" })
  })

  it("42: group_list shows the caller's groups with unread counts; group_info shows admin, online, the caller's last_read and unread_count", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    await alice.request({ type: "group_create", name: "one", members: ["bob", "carol"] })
    await alice.request({ type: "group_create", name: "two", members: ["bob"] })
    await alice.request({ type: "group_create", name: "alone", members: [] })
    await history(alice, "one")
    await pipeline(alice, [1, 2, 3].map((i) => ({ type: "group_send", group: "one", text: `o${i}` })), "o")
    await alice.request({ type: "group_send", group: "two", text: "t1" })

    const list = await bob.request({ type: "group_list" })
    const byName = (groups: Array<{ name: string; unread_count: number }>) => Object.fromEntries(groups.map((g) => [g.name, g.unread_count]))
    expect(byName(list.groups)).toEqual({ one: 4, two: 2 }) // each with its creation notice
    // Neither the creator's own creation notice nor its own messages are unread for it.
    expect(byName((await alice.request({ type: "group_list" })).groups)).toEqual({ one: 0, two: 0, alone: 0 })

    await history(bob, "one", 2)
    expect(byName((await bob.request({ type: "group_list" })).groups)).toEqual({ one: 2, two: 2 })
    const info = await bob.request({ type: "group_info", group: "one" })
    expect(info).toMatchObject({ type: "group_info_result", group: "one", admin: "alice", unread_count: 2 })
    const members = Object.fromEntries(info.members.map((m: any) => [m.name, m]))
    expect(members.alice).toEqual({ name: "alice", online: true })
    expect(members.carol).toEqual({ name: "carol", online: false })
    expect(members.bob).toMatchObject({ name: "bob", online: true, last_read: expect.any(String) })
    const lastRead = members.bob.last_read
    await history(bob, "one")
    const after = await bob.request({ type: "group_info", group: "one" })
    expect(after.unread_count).toBe(0)
    expect(Number(after.members.find((m: any) => m.name === "bob").last_read)).toBeGreaterThan(Number(lastRead))

    const carol = await use.peer(hub, "carol")
    const online = await bob.request({ type: "group_info", group: "one" })
    expect(online.members.find((m: any) => m.name === "carol").online).toBe(true)
    expect(byName((await carol.request({ type: "group_list" })).groups)).toEqual({ one: 4 })
  })

  it("43: delete notifies online members; later operations answer group_not_found", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    await alice.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    await alice.request({ type: "group_send", group: "team", text: "before" })
    const from = bob.frames.length
    expect(await alice.request({ type: "group_delete", group: "team" })).toMatchObject({ type: "group_ack" })
    const notice = await bob.waitFor((f) => f.type === "incoming_group_msg" && f.kind === "system", 5000, from)
    expect(notice).toMatchObject({ group: "team", from: "relay", msg_id: expect.any(String), ts: expect.stringMatching(isoTimestamp) })
    expect(notice.text).toContain("deleted")

    for (const [client, frame] of [
      [bob, { type: "group_send", group: "team", text: "x" }],
      [bob, { type: "group_history", group: "team" }],
      [bob, { type: "group_info", group: "team" }],
      [alice, { type: "group_invite", group: "team", peer: "dave" }],
      [alice, { type: "group_delete", group: "team" }]
    ] as const) {
      expect(await client.request(frame), frame.type).toMatchObject({ type: "err", code: "group_not_found" })
    }
    expect((await bob.request({ type: "group_list" })).groups).toEqual([])
    // An offline member finds nothing later, and the name is free again with fresh history.
    const carol = await use.peer(hub, "carol")
    expect((await carol.request({ type: "group_list" })).groups).toEqual([])
    await alice.request({ type: "group_create", name: "team", members: ["carol"] })
    expect(texts(await history(carol, "team")).includes("before")).toBe(false)
  })

  it("18: rename keeps the mailbox, unread state, groups and admin rights", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const carol = await use.peer(hub, "carol")
    await pipeline(alice, [1, 2, 3].map((i) => ({ type: "send", to: "bob", text: `d${i}` })), "d")
    await carol.request({ type: "group_create", name: "theirs", members: ["bob"] })
    await carol.request({ type: "group_send", group: "theirs", text: "unread one" })

    const bob = await use.peer(hub, "bob")
    await bob.request({ type: "group_create", name: "mine", members: ["alice"] })
    const firstPage = await bob.request({ type: "inbox", limit: 1 })
    expect(texts(firstPage)).toEqual(["d1"])
    const unreadBefore = (await bob.request({ type: "group_list" })).groups

    expect(await bob.request({ type: "rename", new_name: "alice" })).toMatchObject({ type: "err", code: "name_taken" })
    expect(await bob.request({ type: "rename", new_name: "robert" })).toMatchObject({ type: "ack" })

    const { messages } = await drainInbox(bob)
    expect(messages.map((m) => m.text)).toEqual(["d2", "d3"])
    expect((await bob.request({ type: "group_list" })).groups).toEqual(unreadBefore)
    expect((await bob.request({ type: "group_info", group: "mine" })).admin).toBe("robert")
    expect(await bob.request({ type: "group_invite", group: "mine", peer: "carol" })).toMatchObject({ type: "group_ack" })
    const theirs = await carol.request({ type: "group_info", group: "theirs" })
    expect(theirs.members.map((m: any) => [m.name, m.online])).toEqual([
      ["carol", true],
      ["robert", true]
    ])
    expect(texts(await history(bob, "theirs")).includes("unread one")).toBe(true)

    // New mail follows the new name; the old name is free and is just another mailbox.
    const live = await alice.request({ type: "send", to: "robert", text: "hi robert" })
    expect(live.status).toBe("delivered")
    await bob.waitFor((f) => f.type === "incoming_message" && f.text === "hi robert")
    expect((await alice.request({ type: "send", to: "bob", text: "old name" })).status).toBe("queued")
  })

  it("a pipelined burst of group sends: acked in order, pushed in order, a non-member's send in the middle refused alone", async () => {
    const hub = await newHub()
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const mallory = await use.peer(hub, "mallory")
    await alice.request({ type: "group_create", name: "team", members: ["bob"] })
    const from = bob.frames.length
    // Mallory's send lands between Alice's in the group actor's inbox (same batch or not).
    const malloryAck = mallory.request({ type: "group_send", group: "team", text: "let me in" })
    const acks = await pipeline(alice, Array.from({ length: 40 }, (_, i) => ({ type: "group_send", group: "team", text: `b${i}` })), "b")
    expect(await malloryAck).toMatchObject({ type: "err", code: "not_member" })
    expect(acks.map((a) => a.type)).toEqual(Array(40).fill("group_ack"))
    const pushed = (await waitPushes(bob, "incoming_group_msg", 41, from)).filter((f) => f.kind !== "system")
    expect(pushed.map((p) => p.text)).toEqual(Array.from({ length: 40 }, (_, i) => `b${i}`))
    expect(pushed.map((p) => p.msg_id)).toEqual(acks.map((a) => a.msg_id))
    // Stored as acked, and nothing of Mallory's.
    const history = await bob.request({ type: "group_history", group: "team" })
    expect(texts(history).filter((t) => t.startsWith("b") || t === "let me in")).toEqual(Array.from({ length: 40 }, (_, i) => `b${i}`))
  })
})
