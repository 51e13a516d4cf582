/**
 * A burst of group messages is stored in one commit with the same results as the same appends one
 * by one: seqs in order, duplicates recognised, a full store or a missing group refusing only
 * the messages concerned.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { AppendGroupMessageInput, StoreShape } from "../../src/store/Store.ts"
import { at, kinds } from "./helpers.ts"

const message = (group: string, from: string, text: string, clientId?: string): AppendGroupMessageInput => ({
  group,
  from,
  text,
  kind: "message",
  now: at(1),
  ...(clientId === undefined ? {} : { clientId })
})

const outline = (r: Either.Either<{ readonly message: { readonly text: string; readonly seq: number }; readonly duplicate: boolean }, { readonly _tag: string }>) =>
  Either.isRight(r) ? [r.right.message.text, r.right.message.seq, r.right.duplicate] : [r.left._tag]

const createTeam = (store: StoreShape, name = "team") => store.createGroup({ name, admin: "alice", members: ["bob"], now: at(0) })

for (const kind of kinds) {
  describe(`Store group bursts (${kind.name})`, () => {
    it.scopedLive("a burst is one commit; the results match the same appends one by one", () =>
      Effect.gen(function* () {
        const burst = [
          message("team", "alice", "g0", "k"),
          message("team", "bob", "g1"),
          message("team", "alice", "g2-retry", "k"), // the same key as g0: a duplicate of it
          message("gone", "alice", "nowhere"),
          message("team", "bob", "g3")
        ]
        const together = yield* kind.open()
        yield* createTeam(together)
        const before = (yield* together.stats).commits
        const results = yield* together.appendGroupMessages(burst)
        expect((yield* together.stats).commits - before).toBe(1)

        const alone = yield* kind.open()
        yield* createTeam(alone)
        const oneByOne = []
        for (const input of burst) oneByOne.push(yield* Effect.either(alone.appendGroupMessage(input)))

        expect(results.map(outline)).toEqual(oneByOne.map(outline))
        expect(results.map(outline)).toEqual([["g0", 1, false], ["g1", 2, false], ["g0", 1, true], ["GroupNotFound"], ["g3", 3, false]])
        const history = yield* together.groupHistory("team", "bob")
        expect(history.messages.map((m) => m.text)).toEqual(["g0", "g1", "g3"])
      })
    )

    it.scopedLive("past the store's cap only the messages that do not fit are refused", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ maxMessages: 3 })
        yield* createTeam(store)
        const results = yield* store.appendGroupMessages(["a", "b", "c", "d", "e"].map((t) => message("team", "alice", t)))
        expect(results.map(outline)).toEqual([["a", 1, false], ["b", 2, false], ["c", 3, false], ["StoreFull"], ["StoreFull"]])
        expect((yield* store.stats).groupMessages).toBe(3)
      })
    )
  })
}
