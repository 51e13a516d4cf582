/**
 * E6 (reliability.md): the caps on groups, group members and peers, each exceeded by one. Past a
 * cap the answer is `bad_args` naming it, nothing changes, and the hub goes on serving.
 */
import { describe, expect, it } from "vitest"
import { startInProcessHub } from "../support/TestHub.ts"
import { useCleanup } from "./helpers.ts"

describe("E6: caps exceeded by one", () => {
  const use = useCleanup()

  it("groups: the one past maxGroups is refused naming the cap, and is not created", async () => {
    const hub = use.hub(await startInProcessHub({ maxGroups: 3 }))
    const admin = await use.peer(hub, "admin")
    for (const name of ["g1", "g2", "g3"]) {
      expect(await admin.request({ type: "group_create", name, members: [] })).toMatchObject({ type: "group_created" })
    }
    const refused = await admin.request({ type: "group_create", name: "g4", members: [] })
    expect(refused).toMatchObject({ type: "err", code: "bad_args", req_id: refused.req_id })
    expect(refused.message).toContain("3 groups")
    expect((await admin.request({ type: "group_list" })).groups.map((g: { name: string }) => g.name)).toEqual(["g1", "g2", "g3"])
    // Room again once one is deleted.
    expect(await admin.request({ type: "group_delete", group: "g1" })).toMatchObject({ type: "group_ack" })
    expect(await admin.request({ type: "group_create", name: "g4", members: [] })).toMatchObject({ type: "group_created" })
  })

  it("group members: creating or inviting past maxGroupMembers is refused naming the cap", async () => {
    const hub = use.hub(await startInProcessHub({ maxGroupMembers: 3 }))
    const admin = await use.peer(hub, "admin")
    const tooMany = await admin.request({ type: "group_create", name: "big", members: ["a", "b", "c"] })
    expect(tooMany).toMatchObject({ type: "err", code: "bad_args" })
    expect(tooMany.message).toContain("at most 3 members")
    expect(await admin.request({ type: "group_info", group: "big" })).toMatchObject({ code: "group_not_found" })

    expect(await admin.request({ type: "group_create", name: "team", members: ["a", "b"] })).toMatchObject({ type: "group_created" })
    const fourth = await admin.request({ type: "group_invite", group: "team", peer: "c" })
    expect(fourth).toMatchObject({ type: "err", code: "bad_args" })
    expect(fourth.message).toContain("3 members")
    const info = await admin.request({ type: "group_info", group: "team" })
    expect(info.members.map((m: { name: string }) => m.name)).toEqual(["admin", "a", "b"])
  })

  it("peers: the registration past maxPeers is refused naming the cap; the name is free once a peer leaves", async () => {
    const hub = use.hub(await startInProcessHub({ maxPeers: 2 }))
    const first = await use.peer(hub, "first")
    await use.peer(hub, "second")
    const third = await use.raw(hub)
    const refused = await third.register("third")
    expect(refused).toMatchObject({ type: "err", code: "bad_args" })
    expect(refused.message).toContain("full (2 peers)")
    expect((await first.request({ type: "list_peers" })).peers.map((p: { name: string }) => p.name)).toEqual(["second"])
    first.close()
    await first.waitClosed()
    // The session cleanup is asynchronous: the slot frees up shortly after the hang-up.
    let answer = await third.register("third")
    for (let i = 0; i < 50 && answer.type !== "ack"; i++) {
      await new Promise((r) => setTimeout(r, 20))
      answer = await third.register("third")
    }
    expect(answer).toMatchObject({ type: "ack" })
  })
})
