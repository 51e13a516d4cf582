/**
 * Behaviour 44 and scenario A6 against the real `relay hub` process on Bun: mailboxes, delivery
 * state, groups, admin rights and read cursors survive a graceful restart (SIGTERM) and a `kill -9`,
 * and a retried send with the same client id is stored once across a restart.
 */
import { describe, expect, it } from "vitest"
import type { NdjsonClient } from "../support/NdjsonClient.ts"
import { type ProcessHub, startProcessHub } from "../support/TestHub.ts"
import { drainInbox, pipeline, settle, useCleanup } from "./helpers.ts"

const use = useCleanup()

const restart = async (hub: ProcessHub, how: "SIGTERM" | "SIGKILL") => {
  hub.child.kill(how)
  const code = await hub.exited
  if (how === "SIGTERM") expect(code, hub.stderr()).toBe(0)
  return use.hub(await startProcessHub({ dataDir: hub.dataDir }))
}

const groupTexts = async (client: NdjsonClient, group: string, limit?: number) => {
  const answer = await client.request({ type: "group_history", group, ...(limit === undefined ? {} : { limit }) })
  expect(answer.type, JSON.stringify(answer)).toBe("group_messages")
  return answer.messages.filter((m: any) => m.type === "message").map((m: any) => m.text)
}

describe("persistence across restarts (real hub process, Bun)", () => {
  it("44: mailboxes, delivery state, groups, admin and cursors survive SIGTERM and then kill -9", async () => {
    let hub = use.hub(await startProcessHub())
    let alice = await use.peer(hub, "alice")
    let carol = await use.peer(hub, "carol", "6")
    const queued = await pipeline(alice, [1, 2, 3].map((i) => ({ type: "send", to: "bob", text: `d${i}` })), "d")
    expect(queued.map((a) => a.status)).toEqual(["queued", "queued", "queued"])
    const confirmed = await alice.request({ type: "send", to: "carol", text: "confirmed" })
    await carol.waitFor((f) => f.type === "incoming_message" && f.msg_id === confirmed.msg_id)
    expect(await carol.request({ type: "deliver_ack", msg_ids: [confirmed.msg_id] })).toMatchObject({ confirmed: 1 })
    const unconfirmed = await alice.request({ type: "send", to: "carol", text: "unconfirmed" })
    await carol.waitFor((f) => f.type === "incoming_message" && f.msg_id === unconfirmed.msg_id)

    await alice.request({ type: "group_create", name: "team", members: ["bob", "carol"] })
    await pipeline(alice, [1, 2, 3, 4].map((i) => ({ type: "group_send", group: "team", text: `g${i}` })), "g")
    expect(await groupTexts(carol, "team", 3)).toEqual(["g1", "g2"]) // creation notice, g1, g2
    await alice.request({ type: "group_transfer", group: "team", peer: "carol" })

    hub = await restart(hub, "SIGTERM")
    alice = await use.peer(hub, "alice")
    carol = await use.peer(hub, "carol", "6")
    const bob = await use.peer(hub, "bob")

    // The mailbox, with the ids the sender was given.
    const { messages } = await drainInbox(bob)
    expect(messages.map((m) => [m.text, m.msg_id])).toEqual(queued.map((a, i) => [`d${i + 1}`, a.msg_id]))
    // Only what carol had not confirmed is pushed again.
    const again = await carol.waitFor((f) => f.type === "incoming_message")
    expect(again).toMatchObject({ msg_id: unconfirmed.msg_id, text: "unconfirmed" })
    await settle(carol)
    expect(carol.pushes("incoming_message").map((f) => f.msg_id)).toEqual([unconfirmed.msg_id])
    // The group, its admin, carol's cursor.
    const info = await carol.request({ type: "group_info", group: "team" })
    expect(info.admin).toBe("carol")
    expect(info.unread_count).toBe(3) // g3, g4, the transfer notice
    expect(await groupTexts(carol, "team")).toEqual(["g3", "g4"])
    expect(await groupTexts(bob, "team", 2)).toEqual(["g1"])

    // More state, then a kill -9 with no chance to flush anything.
    const toDave = await alice.request({ type: "send", to: "dave", text: "after restart" })
    const g5 = await alice.request({ type: "group_send", group: "team", text: "g5" })
    expect(g5.type).toBe("group_ack")
    expect(await carol.request({ type: "group_invite", group: "team", peer: "dave" })).toMatchObject({ type: "group_ack" })
    expect(await carol.request({ type: "mark_read", msg_ids: [unconfirmed.msg_id] })).toMatchObject({ read: 1 })

    hub = await restart(hub, "SIGKILL")
    alice = await use.peer(hub, "alice")
    const bob2 = await use.peer(hub, "bob")
    const dave = await use.peer(hub, "dave")
    expect((await drainInbox(dave)).messages.map((m) => m.msg_id)).toEqual([toDave.msg_id])
    expect((await drainInbox(bob2)).messages).toEqual([]) // read before the restart stays read
    expect(await groupTexts(bob2, "team")).toEqual(["g2", "g3", "g4", "g5"]) // bob's cursor was after g1
    expect(await groupTexts(dave, "team")).toEqual(["g1", "g2", "g3", "g4", "g5"]) // retained history is unread for the invitee
    expect((await bob2.request({ type: "group_info", group: "team" })).admin).toBe("carol")
    expect((await alice.request({ type: "msg_status", msg_id: unconfirmed.msg_id })).state).toBe("read")
    expect((await alice.request({ type: "msg_status", msg_id: confirmed.msg_id })).state).toBe("delivered")
  })

  it("A6: a retried send with the same client_id is stored once, also across a restart", async () => {
    let hub = use.hub(await startProcessHub())
    let alice = await use.peer(hub, "alice", "6")
    const first = await alice.request({ type: "send", to: "bob", text: "exactly once", client_id: "k-1" })
    await alice.request({ type: "group_create", name: "team", members: ["bob"] })
    const groupFirst = await alice.request({ type: "group_send", group: "team", text: "group once", client_id: "gk-1" })
    expect(first.status).toBe("queued")
    expect(groupFirst.type).toBe("group_ack")

    hub = await restart(hub, "SIGTERM")
    alice = await use.peer(hub, "alice", "6")
    const retry = await alice.request({ type: "send", to: "bob", text: "exactly once", client_id: "k-1" })
    expect(retry).toMatchObject({ type: "send_ack", msg_id: first.msg_id, status: "queued", duplicate: true })
    const groupRetry = await alice.request({ type: "group_send", group: "team", text: "group once", client_id: "gk-1" })
    expect(groupRetry).toMatchObject({ type: "group_ack", msg_id: groupFirst.msg_id, duplicate: true })
    const fresh = await alice.request({ type: "send", to: "bob", text: "new key", client_id: "k-2" })
    expect(fresh.msg_id).not.toBe(first.msg_id)

    hub = await restart(hub, "SIGKILL")
    alice = await use.peer(hub, "alice", "6")
    expect(await alice.request({ type: "send", to: "bob", text: "new key", client_id: "k-2" })).toMatchObject({ msg_id: fresh.msg_id, duplicate: true })
    const bob = await use.peer(hub, "bob")
    expect((await drainInbox(bob)).messages.map((m) => m.text)).toEqual(["exactly once", "new key"])
    expect(await groupTexts(bob, "team")).toEqual(["group once"])
  })
})

describe("what an acknowledgement means is in the hub's log (real hub process, Bun)", () => {
  /** The fields of the hub's JSON log line for `message` (`{"message":[text, fields], …}`), once written. */
  const logFields = async (hub: ProcessHub, message: string) => {
    for (let i = 0; i < 200; i++) {
      for (const line of hub.stderr().split("\n")) {
        if (!line.startsWith("{")) continue
        const [text, fields] = (JSON.parse(line) as { message: [string, Record<string, unknown>] }).message
        if (text === message) return fields
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`no "${message}" line in the hub's log:\n${hub.stderr()}`)
  }

  it("the default (RELAY_SYNC=normal) says fsync at checkpoints; RELAY_SYNC=full says after each commit", async () => {
    const normal = use.hub(await startProcessHub())
    expect(await logFields(normal, "message store open")).toMatchObject({ fsync: "at-checkpoint", driver: "bun:sqlite" })
    const full = use.hub(await startProcessHub({ env: { RELAY_SYNC: "full" } }))
    expect(await logFields(full, "message store open")).toMatchObject({ fsync: process.platform === "linux" ? "after-commit" : "in-commit" })
  })
})
