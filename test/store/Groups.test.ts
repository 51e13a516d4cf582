import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { at, kinds } from "./helpers.ts"

const say = (group: string, from: string, text: string, extra: { clientId?: string; kind?: "message" | "system" } = {}) => ({
  group,
  from,
  text,
  kind: extra.kind ?? ("message" as const),
  clientId: extra.clientId,
  now: at(1)
})

for (const kind of kinds) {
  describe(`Store groups (${kind.name})`, () => {
    it.scopedLive("create makes the admin a member; a second create with the name is GroupExists", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const group = yield* store.createGroup({ name: "team", admin: "A", members: ["B", "A", "C", "B"], now: at(7) })
        expect(group).toEqual({
          name: "team",
          admin: "A",
          createdAt: at(7).toISOString(),
          members: ["A", "B", "C"].map((name) => ({ name, cursor: 0, joinedAt: at(7).toISOString() }))
        })
        expect(yield* store.getGroup("team")).toEqual(Option.some(group))
        expect(yield* store.getGroup("nope")).toEqual(Option.none())
        const again = yield* Effect.flip(store.createGroup({ name: "team", admin: "B", members: [], now: at(8) }))
        expect(again._tag).toBe("GroupExists")
        expect(Option.getOrThrow(yield* store.getGroup("team")).admin).toBe("A")
      })
    )

    it.scopedLive("history returns unread oldest first, pages with limit and advances the cursor", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "A", members: ["B", "C"], now: at(0) })
        const sent = []
        for (const text of ["one", "two", "three"]) sent.push((yield* store.appendGroupMessage(say("g", "A", text))).message)
        expect(sent.map((m) => m.seq)).toEqual([1, 2, 3])
        expect(new Set(sent.map((m) => m.id)).size).toBe(3)
        expect(sent.every((m) => typeof m.id === "string")).toBe(true)
        expect(sent[0]).toMatchObject({ group: "g", from: "A", text: "one", kind: "message", ts: at(1).toISOString() })

        const b = yield* store.groupHistory("g", "B")
        expect(b.messages).toEqual(sent)
        expect(b.unreadRemaining).toBe(0)
        expect((yield* store.groupHistory("g", "B")).messages).toEqual([])

        expect(yield* store.unreadCount("g", "C")).toBe(3)
        const c1 = yield* store.groupHistory("g", "C", { limit: 2 })
        expect(c1.messages.map((m) => m.text)).toEqual(["one", "two"])
        expect(c1.unreadRemaining).toBe(1)
        expect(yield* store.unreadCount("g", "C")).toBe(1)
        const members = Option.getOrThrow(yield* store.getGroup("g")).members
        expect(members.map((m) => [m.name, m.cursor])).toEqual([
          ["A", 3],
          ["B", 3],
          ["C", 2]
        ])
        expect((yield* store.groupHistory("g", "C", { limit: 5 })).messages.map((m) => m.text)).toEqual(["three"])
        // The sender had read everything, so its own messages are not unread for it.
        expect(yield* store.unreadCount("g", "A")).toBe(0)
      })
    )

    it.scopedLive("a sender with unread messages keeps them unread when it posts", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
        yield* store.appendGroupMessage(say("g", "A", "from A"))
        yield* store.appendGroupMessage(say("g", "B", "from B"))
        expect(yield* store.unreadCount("g", "B")).toBe(2)
        expect((yield* store.groupHistory("g", "B")).messages.map((m) => m.text)).toEqual(["from A", "from B"])
      })
    )

    it.scopedLive("keeps the newest 500; a new member sees the retained history as unread", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "A", members: [], now: at(0) })
        for (let i = 1; i <= 505; i++) yield* store.appendGroupMessage(say("g", "A", `m${i}`))
        expect(yield* store.addMember("g", "D", at(9))).toBe(true)
        expect(yield* store.addMember("g", "D", at(9))).toBe(false)
        expect(yield* store.unreadCount("g", "D")).toBe(500)
        expect(yield* store.groupsOf("D")).toEqual([{ name: "g", unreadCount: 500 }])
        const page = yield* store.groupHistory("g", "D", { limit: 10 })
        expect(page.messages[0]!.text).toBe("m6")
        expect(page.messages[0]!.seq).toBe(6)
        expect(page.unreadRemaining).toBe(490)
        const rest = yield* store.groupHistory("g", "D")
        expect(rest.messages).toHaveLength(490)
        expect(rest.messages.at(-1)!.text).toBe("m505")
        expect((yield* store.stats).groupMessages).toBe(500)
      })
    )

    it.scopedLive("groupsOf lists the member's groups with unread counts", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "x", admin: "A", members: ["B"], now: at(0) })
        yield* store.createGroup({ name: "y", admin: "B", members: [], now: at(0) })
        yield* store.createGroup({ name: "z", admin: "A", members: [], now: at(0) })
        yield* store.appendGroupMessage(say("x", "A", "1"))
        yield* store.appendGroupMessage(say("x", "A", "2"))
        yield* store.appendGroupMessage(say("y", "B", "mine"))
        yield* store.appendGroupMessage(say("y", "C", "system note", { kind: "system" }))
        expect(yield* store.groupsOf("B")).toEqual([
          { name: "x", unreadCount: 2 },
          { name: "y", unreadCount: 1 }
        ])
        expect(yield* store.groupsOf("nobody")).toEqual([])
      })
    )

    it.scopedLive("membership changes, admin transfer, delete, and the errors for unknown groups and non-members", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
        yield* store.appendGroupMessage(say("g", "A", "hello"))
        expect((yield* Effect.flip(store.setAdmin("g", "Z")))._tag).toBe("NotMember")
        yield* store.setAdmin("g", "B")
        expect(Option.getOrThrow(yield* store.getGroup("g")).admin).toBe("B")
        expect(yield* store.removeMember("g", "A")).toBe(true)
        expect(yield* store.removeMember("g", "A")).toBe(false)
        expect((yield* Effect.flip(store.groupHistory("g", "A")))._tag).toBe("NotMember")
        expect((yield* Effect.flip(store.unreadCount("g", "A")))._tag).toBe("NotMember")
        // A system message about someone who left is still appended.
        yield* store.appendGroupMessage(say("g", "A", "A left", { kind: "system" }))
        expect((yield* store.groupHistory("g", "B")).messages.map((m) => [m.text, m.kind])).toEqual([
          ["hello", "message"],
          ["A left", "system"]
        ])

        yield* store.deleteGroup("g")
        expect(yield* store.getGroup("g")).toEqual(Option.none())
        expect(yield* store.groupsOf("B")).toEqual([])
        expect((yield* store.stats).groupMessages).toBe(0)
        for (const failed of [
          yield* Effect.flip(store.deleteGroup("g")),
          yield* Effect.flip(store.groupHistory("g", "B")),
          yield* Effect.flip(store.addMember("g", "B", at(0))),
          yield* Effect.flip(store.appendGroupMessage(say("g", "B", "x")))
        ]) {
          expect(failed._tag).toBe("GroupNotFound")
          expect(failed.message).toContain('"g"')
        }
        // The name is free again, with a fresh history.
        yield* store.createGroup({ name: "g", admin: "B", members: [], now: at(0) })
        expect((yield* store.appendGroupMessage(say("g", "B", "new"))).message.seq).toBe(1)
      })
    )

    it.scopedLive("a retried group send with the same clientId is stored once", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
        const first = yield* store.appendGroupMessage(say("g", "A", "once", { clientId: "k1" }))
        const retry = yield* store.appendGroupMessage(say("g", "A", "once", { clientId: "k1" }))
        expect(retry).toEqual({ message: first.message, duplicate: true })
        expect(yield* store.unreadCount("g", "B")).toBe(1)
      })
    )

    it.scopedLive("rename moves memberships, cursors and admin rights", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        yield* store.createGroup({ name: "g", admin: "B", members: ["A"], now: at(0) })
        yield* store.createGroup({ name: "h", admin: "A", members: ["B"], now: at(0) })
        for (const text of ["1", "2", "3"]) yield* store.appendGroupMessage(say("g", "A", text))
        yield* store.groupHistory("g", "B", { limit: 2 })

        yield* store.renamePeer("B", "B2")
        const g = Option.getOrThrow(yield* store.getGroup("g"))
        expect(g.admin).toBe("B2")
        expect(g.members.map((m) => [m.name, m.cursor])).toEqual([
          ["B2", 2],
          ["A", 3]
        ])
        expect(Option.getOrThrow(yield* store.getGroup("h")).members.map((m) => m.name)).toEqual(["A", "B2"])
        expect(yield* store.groupsOf("B2")).toEqual([
          { name: "g", unreadCount: 1 },
          { name: "h", unreadCount: 0 }
        ])
        expect(yield* store.groupsOf("B")).toEqual([])
        expect((yield* store.groupHistory("g", "B2")).messages.map((m) => m.text)).toEqual(["3"])
      })
    )
  })
}
