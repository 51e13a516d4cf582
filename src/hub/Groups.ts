/**
 * Persistent groups: one actor per group (created on demand, released when idle) runs that group's
 * operations one at a time, so a send never interleaves with a removal or a transfer. The store
 * holds membership, admin, history and each member's read cursor.
 *
 * Admin rules: only the admin invites, removes, transfers and deletes. When the admin leaves, the
 * longest-standing member becomes admin, so a group is never left without one; the last member
 * leaving deletes the group.
 */
import { Duration, Effect, Option } from "effect"
import { encodeFrame, type Frame } from "../protocol/Encode.ts"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import type { ClientFrameOf } from "../protocol/Frames.ts"
import { NamePattern } from "../protocol/Limits.ts"
import { type GroupMessageRecord, type GroupRecord, Store } from "../store/Store.ts"
import { storeFailure } from "./DirectMessages.ts"
import { HubConfig } from "./HubConfig.ts"
import * as KeyedActors from "./KeyedActors.ts"
import { later, type Outcome } from "./Outcome.ts"
import type { Peer } from "./Peer.ts"
import { Registry } from "./Registry.ts"
import { Reply } from "./Reply.ts"

type Command =
  /** Any operation, run alone and in order. */
  | { readonly _tag: "Run"; readonly run: Effect.Effect<void>; readonly reply: Reply<unknown, unknown> }
  /** A message; consecutive ones are stored together (one commit) and fanned out in order. */
  | {
      readonly _tag: "Send"
      readonly peer: Peer
      readonly frame: ClientFrameOf<"group_send">
      readonly now: Date
      readonly reply: Reply<Frame, RequestError>
    }

/** The sender shown on system messages; `kind: "system"` is what marks them (a peer may be named so). */
const systemSender = "relay"

const groupMessageFrame = (message: GroupMessageRecord): Frame => ({
  type: "incoming_group_msg",
  group: message.group,
  from: message.from,
  text: message.text,
  msg_id: message.id,
  ts: message.ts,
  ...(message.kind === "system" ? { kind: "system" } : {})
})

export const make = Effect.gen(function* () {
  const store = yield* Store
  const registry = yield* Registry
  const config = yield* HubConfig

  const actors = yield* KeyedActors.make<Command>({
    name: "group",
    idleAfter: Duration.seconds(60),
    maxBatch: 64,
    receive: (group, batch) =>
      KeyedActors.inRuns(
        batch,
        (command): command is Extract<Command, { _tag: "Send" }> => command._tag === "Send",
        (sends) => sendBurst(group, sends),
        (command) => command.run
      )
  })

  /** Queues `effect` to run inside the group's actor, after everything queued before it. */
  const submitInGroup = <A>(group: string, effect: Effect.Effect<A, RequestError>) =>
    Effect.sync(() => {
      const reply = new Reply<A, RequestError>()
      actors.post(group, {
        _tag: "Run",
        reply: reply as Reply<unknown, unknown>,
        run: Effect.exit(effect).pipe(Effect.map((exit) => reply.complete(exit)))
      })
      return reply
    })

  /** Runs `effect` inside the group's actor and waits for it. */
  const inGroup = <A>(group: string, effect: Effect.Effect<A, RequestError>) =>
    Effect.flatMap(submitInGroup(group, effect), (reply) => reply.await)

  const requestErrorOf = (error: { readonly _tag: string; readonly message: string }): RequestError => {
    switch (error._tag) {
      case "GroupNotFound":
        return requestError("group_not_found", `${error.message}; relay_group_list shows your groups`)
      case "NotMember":
        return requestError("not_member", error.message)
      case "GroupExists":
        return requestError("bad_args", `${error.message}; pick another name`)
      case "StoreFull":
      case "StoreError":
        return storeFailure(error as never)
      default:
        return requestError("unexpected", error.message)
    }
  }

  const mapStore = <A>(effect: Effect.Effect<A, { readonly _tag: string; readonly message: string }>) =>
    Effect.mapError(effect, requestErrorOf)

  const load = (group: string) =>
    mapStore(store.getGroup(group)).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(requestError("group_not_found", `there is no group '${group}'; relay_group_list shows your groups`)),
          onSome: Effect.succeed
        })
      )
    )

  const isMember = (record: GroupRecord, name: string) => record.members.some((m) => m.name === name)

  const loadAsMember = (group: string, peer: Peer) =>
    Effect.filterOrFail(load(group), (record) => isMember(record, peer.name), () =>
      requestError("not_member", `you are not a member of '${group}'; ask its admin to invite you`)
    )

  const loadAsAdmin = (group: string, peer: Peer) =>
    Effect.filterOrFail(loadAsMember(group, peer), (record) => record.admin === peer.name, (record) =>
      requestError("not_admin", `only the admin of '${group}' (${record.admin}) can do that`)
    )

  /** Pushes a stored group message to every connected member but `except`. */
  const fanOut = (members: ReadonlyArray<string>, message: GroupMessageRecord, except?: string) => {
    const line = encodeFrame(groupMessageFrame(message))
    for (const name of members) {
      if (name === except) continue
      registry.lookup(name)?.sendLine(line)
    }
  }

  /**
   * Appends a system message ("bob joined") and pushes it to the members, plus `alsoTo`. The change
   * it announces is already committed, so a notice the store refuses (full, say) must not turn that
   * change into an error: the notice is then pushed live only, and the refusal logged.
   */
  const announce = (
    group: string,
    actor: Peer,
    members: ReadonlyArray<string>,
    text: string,
    alsoTo: ReadonlyArray<string> = []
  ) => {
    const now = new Date()
    // The member who did it has seen the notice: it is not unread for them.
    return store.appendGroupMessage({ group, from: systemSender, text, kind: "system", seenBy: actor.name, now }).pipe(
      Effect.map(({ message }) => message),
      Effect.catchAll((error) =>
        Effect.logWarning("group notice not stored; pushed live only", { group, error: error.message }).pipe(
          Effect.as<GroupMessageRecord>({
            id: `notice-${group}-${now.getTime()}`,
            seq: 0,
            group,
            from: systemSender,
            text,
            ts: now.toISOString(),
            kind: "system"
          })
        )
      ),
      Effect.tap((message) => Effect.sync(() => fanOut([...members, ...alsoTo], message)))
    )
  }

  const memberNames = (record: GroupRecord) => record.members.map((m) => m.name)
  const ack = (group: string): Frame => ({ type: "group_ack", group })

  /**
   * Consecutive sends to one group: the group is loaded once, the messages stored in one write, and
   * each fanned out and answered in order. A sender who is not a member is refused on its own.
   */
  const sendBurst = (group: string, sends: ReadonlyArray<Extract<Command, { _tag: "Send" }>>) =>
    Effect.gen(function* () {
      const loaded = yield* Effect.either(load(group))
      if (loaded._tag === "Left") {
        for (const send of sends) send.reply.fail(loaded.left)
        return
      }
      const members = memberNames(loaded.right)
      const accepted = sends.filter((send) => {
        if (isMember(loaded.right, send.peer.name)) return true
        send.reply.fail(requestError("not_member", `you are not a member of '${group}'; ask its admin to invite you`))
        return false
      })
      const results = yield* store.appendGroupMessages(
        accepted.map(({ frame, now, peer }) => ({ group, from: peer.name, text: frame.text, kind: "message" as const, clientId: frame.client_id, now }))
      )
      accepted.forEach((send, i) => {
        const result = results[i]!
        if (result._tag === "Left") return send.reply.fail(requestErrorOf(result.left))
        const { message, duplicate } = result.right
        if (!duplicate) fanOut(members, message, send.peer.name)
        send.reply.succeed({ type: "group_ack", group, msg_id: message.id, ...(duplicate ? { duplicate: true } : {}) })
      })
    })

  return {
    groupCreate: (peer: Peer, frame: ClientFrameOf<"group_create">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.name,
        Effect.gen(function* () {
          const requested = frame.members.map((m) => m.trim())
          const invalid = requested.filter((m) => !NamePattern.test(m))
          if (invalid.length > 0) {
            return yield* requestError(
              "bad_args",
              `invalid member name${invalid.length === 1 ? "" : "s"}: ${invalid.map((m) => JSON.stringify(m.slice(0, 70))).join(", ")} (names are 1–64 of A–Z a–z 0–9 . _ -); nothing was created`
            )
          }
          const members = [...new Set(requested.filter((m) => m !== peer.name))]
          if (members.length + 1 > config.maxGroupMembers) {
            return yield* requestError("bad_args", `a group has at most ${config.maxGroupMembers} members`)
          }
          const stats = yield* mapStore(store.stats)
          if (stats.groups >= config.maxGroups) {
            return yield* requestError("bad_args", `this hub already has ${config.maxGroups} groups (the cap); delete unused ones first`)
          }
          const record = yield* mapStore(store.createGroup({ name: frame.name, admin: peer.name, members, now: new Date() }))
          yield* announce(frame.name, peer, memberNames(record), `${peer.name} created the group with ${memberNames(record).join(", ")}`)
          return { type: "group_created", group: record.name, members: memberNames(record) }
        })
      ),

    groupInvite: (peer: Peer, frame: ClientFrameOf<"group_invite">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsAdmin(frame.group, peer)
          if (isMember(record, frame.peer)) return ack(frame.group)
          if (record.members.length >= config.maxGroupMembers) {
            return yield* requestError("bad_args", `'${frame.group}' is full (${config.maxGroupMembers} members, the cap)`)
          }
          yield* mapStore(store.addMember(frame.group, frame.peer, new Date()))
          yield* announce(frame.group, peer, [...memberNames(record), frame.peer], `${frame.peer} was invited by ${peer.name}`)
          return ack(frame.group)
        })
      ),

    groupRemove: (peer: Peer, frame: ClientFrameOf<"group_remove">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsAdmin(frame.group, peer)
          if (frame.peer === peer.name) {
            return yield* requestError("bad_args", "the admin cannot remove itself; use relay_group_leave (admin passes on) or relay_group_transfer")
          }
          if (!isMember(record, frame.peer)) {
            return yield* requestError("not_member", `${frame.peer} is not a member of '${frame.group}'`)
          }
          yield* mapStore(store.removeMember(frame.group, frame.peer))
          const reason = frame.reason === undefined ? "" : `: ${frame.reason}`
          const remaining = memberNames(record).filter((m) => m !== frame.peer)
          // The removed member hears it too: it is the one who most needs to know.
          yield* announce(frame.group, peer, remaining, `${frame.peer} was removed by ${peer.name}${reason}`, [frame.peer])
          return ack(frame.group)
        })
      ),

    groupLeave: (peer: Peer, frame: ClientFrameOf<"group_leave">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsMember(frame.group, peer)
          const remaining = record.members.filter((m) => m.name !== peer.name)
          if (remaining.length === 0) {
            yield* mapStore(store.deleteGroup(frame.group))
            return ack(frame.group)
          }
          yield* mapStore(store.removeMember(frame.group, peer.name))
          let text = `${peer.name} left`
          if (record.admin === peer.name) {
            const heir = remaining[0]!.name
            yield* mapStore(store.setAdmin(frame.group, heir))
            text += `; ${heir} is now the admin`
          }
          yield* announce(frame.group, peer, remaining.map((m) => m.name), text)
          return ack(frame.group)
        })
      ),

    groupTransfer: (peer: Peer, frame: ClientFrameOf<"group_transfer">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsAdmin(frame.group, peer)
          if (!isMember(record, frame.peer)) {
            return yield* requestError("not_member", `${frame.peer} is not a member of '${frame.group}'; invite it first`)
          }
          if (frame.peer === peer.name) return ack(frame.group)
          yield* mapStore(store.setAdmin(frame.group, frame.peer))
          yield* announce(frame.group, peer, memberNames(record), `${peer.name} handed admin rights to ${frame.peer}`)
          return ack(frame.group)
        })
      ),

    groupDelete: (peer: Peer, frame: ClientFrameOf<"group_delete">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsAdmin(frame.group, peer)
          yield* mapStore(store.deleteGroup(frame.group))
          // The history is gone with the group, so the notice is pushed, not stored.
          const line = encodeFrame({
            type: "incoming_group_msg",
            group: frame.group,
            from: systemSender,
            text: `${peer.name} deleted the group`,
            msg_id: `deleted-${frame.group}-${Date.now()}`,
            ts: new Date().toISOString(),
            kind: "system"
          })
          for (const name of memberNames(record)) if (name !== peer.name) registry.lookup(name)?.sendLine(line)
          return ack(frame.group)
        })
      ),

    groupSend: (peer: Peer, frame: ClientFrameOf<"group_send">): Effect.Effect<Outcome, RequestError> =>
      Effect.sync(() => {
        const reply = new Reply<Frame, RequestError>()
        actors.post(frame.group, { _tag: "Send", peer, frame, now: new Date(), reply })
        return later(reply)
      }),

    groupHistory: (peer: Peer, frame: ClientFrameOf<"group_history">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          yield* loadAsMember(frame.group, peer)
          const page = yield* mapStore(store.groupHistory(frame.group, peer.name, { limit: frame.limit }))
          return {
            type: "group_messages",
            group: frame.group,
            messages: page.messages.map((m) => ({ id: m.id, from: m.from, text: m.text, ts: m.ts, type: m.kind })),
            unread_remaining: page.unreadRemaining
          }
        })
      ),

    groupList: (peer: Peer): Effect.Effect<Outcome, RequestError> =>
      mapStore(store.groupsOf(peer.name)).pipe(
        Effect.map((groups) => ({
          type: "group_list_result",
          groups: groups.map((g) => ({ name: g.name, unread_count: g.unreadCount }))
        }))
      ),

    groupInfo: (peer: Peer, frame: ClientFrameOf<"group_info">): Effect.Effect<Outcome, RequestError> =>
      inGroup(
        frame.group,
        Effect.gen(function* () {
          const record = yield* loadAsMember(frame.group, peer)
          const unread = yield* mapStore(store.unreadCount(frame.group, peer.name))
          return {
            type: "group_info_result",
            group: record.name,
            admin: record.admin,
            members: record.members.map((m) => ({
              name: m.name,
              online: registry.lookup(m.name) !== undefined,
              ...(m.name === peer.name ? { last_read: String(m.cursor) } : {})
            })),
            unread_count: unread
          }
        })
      )
  }
})

export type Groups = Effect.Effect.Success<typeof make>

