/**
 * What the hub does with each request, one function per frame type. A handler returns the reply
 * frame (the session adds the `req_id`) or fails with a `RequestError`.
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


type Handler<K extends ClientFrame["type"]> = (
  session: SessionState,
  frame: ClientFrameOf<K>
) => Effect.Effect<Outcome, RequestError, HandlerServices>

const registered = (session: SessionState) =>
  session.peer !== undefined
    ? Effect.succeed(session.peer)
    : Effect.fail(requestError("not_registered", "register first: send {\"type\":\"register\",\"name\":…}"))

const ack: Frame = { type: "ack" }

const peerInfo = (peer: Peer): PeerInfo => ({
  name: peer.name,
  cwd: peer.cwd,
  git_branch: peer.gitBranch,
  last_seen: peer.lastSeen
})

const handlers: { readonly [K in ClientFrame["type"]]: Handler<K> } = {
  ping: () => Effect.succeed({ type: "pong" }),
  pong: () => Effect.succeed(undefined),

  hello: () =>
    Effect.map(HubInfo, (info) => ({
      type: "welcome",
      hub_id: info.hubId,
      hub_version: info.version,
      protocol_versions: [...ProtocolVersions],
      capabilities: info.capabilities
    })),

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
      const registry = yield* Registry
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
      const messaging = yield* Messaging
      yield* messaging.connected(peer)
      return ack
    }),

  rename: (session, frame) =>
    Effect.gen(function* () {
      const peer = yield* registered(session)
      const oldName = peer.name
      const registry = yield* Registry
      yield* registry.rename(peer, frame.new_name)
      if (oldName !== peer.name) {
        const messaging = yield* Messaging
        yield* messaging.renamed(peer, oldName)
        yield* Effect.logInfo("peer renamed").pipe(Effect.annotateLogs({ peer: peer.name, from: oldName }))
      }
      return ack
    }),

  list_peers: (session) =>
    Effect.map(Registry, (registry) => ({
      type: "peers",
      peers: registry
        .list()
        .filter((peer) => peer !== session.peer)
        .map(peerInfo)
    })),

  broadcast: (session, frame) =>
    Effect.gen(function* () {
      const asker = yield* registered(session)
      const registry = yield* Registry
      const excludeSelf = frame.exclude_self ?? true
      const recipients = registry.list().filter((peer) => !(excludeSelf && peer === asker))
      const asks = yield* OpenAsks
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
      const asks = yield* OpenAsks
      const ask = yield* asks.find(frame.ask_id, replier)
      if (ask === undefined) {
        // Not a broadcast question: perhaps the id of a direct message this peer received.
        const messaging = yield* Messaging
        return yield* messaging.replyToMessage(replier, frame.ask_id, frame.text)
      }
      const registry = yield* Registry
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
      const rooms = yield* Rooms
      const room = yield* rooms.join(frame.room, peer)
      return { type: "room_ack", room: room.name, members: room.members }
    }),

  leave_room: (session, frame) =>
    Effect.gen(function* () {
      const peer = yield* registered(session)
      const rooms = yield* Rooms
      yield* rooms.leave(frame.room, peer)
      return ack
    }),

  room_msg: (session, frame) =>
    Effect.gen(function* () {
      const peer = yield* registered(session)
      const rooms = yield* Rooms
      const msgId = frame.msg_id ?? `r-${session.connection.id}-${Date.now().toString(36)}-${roomCounter++}`
      const line = encodeFrame({ type: "incoming_room_msg", room: frame.room, from: peer.name, text: frame.text, msg_id: msgId })
      const delivered = yield* rooms.post(frame.room, peer, line)
      return { type: "room_send_ack", room: frame.room, delivered_count: delivered }
    }),

  list_rooms: () =>
    Effect.gen(function* () {
      const rooms = yield* Rooms
      const list = yield* rooms.list()
      return { type: "rooms_list", rooms: list.map((room) => ({ name: room.name, members: room.members })) }
    }),

  send: (session, frame) => withMessaging(session, (m, peer) => m.send(peer, frame)),
  inbox: (session, frame) => withMessaging(session, (m, peer) => m.inbox(peer, frame)),
  deliver_ack: (session, frame) => withMessaging(session, (m, peer) => m.deliverAck(peer, frame)),
  mark_read: (session, frame) => withMessaging(session, (m, peer) => m.markRead(peer, frame)),
  msg_status: (session, frame) => withMessaging(session, (m, peer) => m.status(peer, frame)),
  group_create: (session, frame) => withMessaging(session, (m, peer) => m.groupCreate(peer, frame)),
  group_invite: (session, frame) => withMessaging(session, (m, peer) => m.groupInvite(peer, frame)),
  group_remove: (session, frame) => withMessaging(session, (m, peer) => m.groupRemove(peer, frame)),
  group_leave: (session, frame) => withMessaging(session, (m, peer) => m.groupLeave(peer, frame)),
  group_delete: (session, frame) => withMessaging(session, (m, peer) => m.groupDelete(peer, frame)),
  group_transfer: (session, frame) => withMessaging(session, (m, peer) => m.groupTransfer(peer, frame)),
  group_send: (session, frame) => withMessaging(session, (m, peer) => m.groupSend(peer, frame)),
  group_history: (session, frame) => withMessaging(session, (m, peer) => m.groupHistory(peer, frame)),
  group_list: (session, frame) => withMessaging(session, (m, peer) => m.groupList(peer, frame)),
  group_info: (session, frame) => withMessaging(session, (m, peer) => m.groupInfo(peer, frame))
}

let roomCounter = 0

const withMessaging = (
  session: SessionState,
  run: (messaging: Messaging["Type"], peer: Peer) => Effect.Effect<Outcome, RequestError>
) =>
  Effect.gen(function* () {
    const peer = yield* registered(session)
    const messaging = yield* Messaging
    return yield* run(messaging, peer)
  })

export const handleRequest = (session: SessionState, frame: ClientFrame) =>
  (handlers[frame.type] as Handler<ClientFrame["type"]>)(session, frame as never)
