/**
 * What the hub does with each request, one function per frame type. A handler returns the reply
 * frame (the session adds the `req_id`) or fails with a `RequestError`.
 *
 * The services are looked up once, when a connection's session starts, not per request: a
 * lookup per request was a visible share of the hub's time under load.
 */
import { Effect } from "effect"
import type { Frame } from "../protocol/Encode.ts"
import { encodeFrame } from "../protocol/Encode.ts"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import type { ClientFrame, ClientFrameOf, PeerInfo } from "../protocol/Frames.ts"
import { ProtocolVersions } from "../protocol/Limits.ts"
import type { Connection } from "./Connection.ts"
import { Messaging } from "./Messaging.ts"
import { OpenAsks } from "./OpenAsks.ts"
import type { Peer } from "./Peer.ts"
import { Registry } from "./Registry.ts"
import { Rooms } from "./Rooms.ts"
import { HubInfo } from "./HubInfo.ts"
import type { Outcome } from "./Outcome.ts"

export interface SessionState {
  readonly connection: Connection
  peer: Peer | undefined
}

export type HandlerServices = Registry | Rooms | OpenAsks | Messaging | HubInfo


type Handler<K extends ClientFrame["type"]> = (session: SessionState, frame: ClientFrameOf<K>) => Effect.Effect<Outcome, RequestError>

/** Answers one request of one session. */
export type HandleRequest = (session: SessionState, frame: ClientFrame) => Effect.Effect<Outcome, RequestError>

const notRegistered = Effect.fail(requestError("not_registered", "register first: send {\"type\":\"register\",\"name\":…}"))

const registered = (session: SessionState) => (session.peer !== undefined ? Effect.succeed(session.peer) : notRegistered)

const ack: Frame = { type: "ack" }

const peerInfo = (peer: Peer): PeerInfo => ({
  name: peer.name,
  cwd: peer.cwd,
  git_branch: peer.gitBranch,
  last_seen: peer.lastSeen
})

export const makeHandleRequest: Effect.Effect<HandleRequest, never, HandlerServices> = Effect.gen(function* () {
  const registry = yield* Registry
  const rooms = yield* Rooms
  const asks = yield* OpenAsks
  const messaging = yield* Messaging
  const info = yield* HubInfo

  /** A messaging operation, for registered sessions only. */
  const withPeer =
    <K extends ClientFrame["type"]>(run: (peer: Peer, frame: ClientFrameOf<K>) => Effect.Effect<Outcome, RequestError>): Handler<K> =>
    (session, frame) =>
      session.peer !== undefined ? run(session.peer, frame) : notRegistered

  const handlers: { readonly [K in ClientFrame["type"]]: Handler<K> } = {
    ping: () => Effect.succeed({ type: "pong" }),
    pong: () => Effect.succeed(undefined),

    hello: () =>
      Effect.succeed({
        type: "welcome",
        hub_id: info.hubId,
        hub_version: info.version,
        protocol_versions: [...ProtocolVersions],
        capabilities: info.capabilities
      }),

    register: (session, frame) =>
      Effect.gen(function* () {
        if (session.peer !== undefined) {
          return yield* requestError(
            "already_registered",
            `this connection is already registered as '${session.peer.name}'; use rename to change the name`
          )
        }
        const version = frame.protocol_version === undefined ? "5" : String(frame.protocol_version)
        if (!(ProtocolVersions as ReadonlyArray<string>).includes(version)) {
          return yield* requestError(
            "protocol_mismatch",
            `this hub speaks protocol ${ProtocolVersions.join(" and ")}, the client sent '${version.slice(0, 32)}'; update the client`
          )
        }
        const peer = yield* registry.register({
          connection: session.connection,
          name: frame.name,
          cwd: frame.cwd ?? "",
          gitBranch: frame.git_branch ?? "",
          protocolVersion: version as "5" | "6"
        })
        session.peer = peer
        yield* Effect.logInfo("peer registered").pipe(
          Effect.annotateLogs({ peer: peer.name, protocol: version, cwd: peer.cwd })
        )
        yield* messaging.connected(peer)
        return ack
      }),

    rename: (session, frame) =>
      Effect.gen(function* () {
        const peer = yield* registered(session)
        const oldName = peer.name
        yield* registry.rename(peer, frame.new_name)
        if (oldName !== peer.name) {
            yield* messaging.renamed(peer, oldName)
          yield* Effect.logInfo("peer renamed").pipe(Effect.annotateLogs({ peer: peer.name, from: oldName }))
        }
        return ack
      }),

    list_peers: (session) =>
      Effect.sync(() => ({
        type: "peers",
        peers: registry
          .list()
          .filter((peer) => peer !== session.peer)
          .map(peerInfo)
      })),

    broadcast: (session, frame) =>
      Effect.gen(function* () {
        const asker = yield* registered(session)
        const excludeSelf = frame.exclude_self ?? true
        const recipients = registry.list().filter((peer) => !(excludeSelf && peer === asker))
        const opened = yield* asks.open(frame.broadcast_id, asker, recipients)
        for (const ask of opened) {
          ask.recipient.send({
            type: "incoming_ask",
            from: asker.name,
            question: frame.question,
            ask_id: ask.askId,
            broadcast_id: frame.broadcast_id,
            thread_id: frame.broadcast_id
          })
        }
        return { type: "broadcast_ack", broadcast_id: frame.broadcast_id, peer_count: opened.length }
      }),

    reply: (session, frame) =>
      Effect.gen(function* () {
        const replier = yield* registered(session)
        const ask = yield* asks.find(frame.ask_id, replier)
        if (ask === undefined) {
          // Not a broadcast question: perhaps the id of a direct message this peer received.
            return yield* messaging.replyToMessage(replier, frame.ask_id, frame.text)
        }
        const target = ask.asker.isOpen() ? ask.asker : registry.lookup(ask.askerName)
        const incoming: Frame = {
          type: "incoming_reply",
          from: replier.name,
          text: frame.text,
          ask_id: ask.askId,
          broadcast_id: ask.broadcastId,
          thread_id: ask.broadcastId
        }
        if (target === undefined || !target.send(incoming)) {
          return yield* requestError(
            "peer_gone",
            `'${ask.askerName}' who asked this question is not connected any more; send it a direct message instead`
          )
        }
        return ack
      }),

    join_room: (session, frame) =>
      Effect.gen(function* () {
        const peer = yield* registered(session)
        const room = yield* rooms.join(frame.room, peer)
        return { type: "room_ack", room: room.name, members: room.members }
      }),

    leave_room: (session, frame) =>
      Effect.gen(function* () {
        const peer = yield* registered(session)
        yield* rooms.leave(frame.room, peer)
        return ack
      }),

    room_msg: (session, frame) =>
      Effect.gen(function* () {
        const peer = yield* registered(session)
        const msgId = frame.msg_id ?? `r-${session.connection.id}-${Date.now().toString(36)}-${roomCounter++}`
        const line = encodeFrame({ type: "incoming_room_msg", room: frame.room, from: peer.name, text: frame.text, msg_id: msgId })
        const delivered = yield* rooms.post(frame.room, peer, line)
        return { type: "room_send_ack", room: frame.room, delivered_count: delivered }
      }),

    list_rooms: () =>
      Effect.gen(function* () {
        const list = yield* rooms.list()
        return { type: "rooms_list", rooms: list.map((room) => ({ name: room.name, members: room.members })) }
      }),

    send: withPeer(messaging.send),
    inbox: withPeer(messaging.inbox),
    deliver_ack: withPeer(messaging.deliverAck),
    mark_read: withPeer(messaging.markRead),
    msg_status: withPeer(messaging.status),
    group_create: withPeer(messaging.groupCreate),
    group_invite: withPeer(messaging.groupInvite),
    group_remove: withPeer(messaging.groupRemove),
    group_leave: withPeer(messaging.groupLeave),
    group_delete: withPeer(messaging.groupDelete),
    group_transfer: withPeer(messaging.groupTransfer),
    group_send: withPeer(messaging.groupSend),
    group_history: withPeer(messaging.groupHistory),
    group_list: withPeer(messaging.groupList),
    group_info: withPeer(messaging.groupInfo)
  }

  return (session, frame) => (handlers[frame.type] as Handler<ClientFrame["type"]>)(session, frame as never)
})

let roomCounter = 0
