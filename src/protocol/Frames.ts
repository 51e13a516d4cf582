/**
 * Every frame of protocol 5 (and the optional [v6] additions) as an Effect Schema.
 *
 * Decoding is lenient where EcoRelay clients are loose (missing `cwd`, numeric `protocol_version`)
 * and strict where a bad value would hurt someone else (names, lengths). Unknown fields are ignored.
 */
import { Schema } from "effect"
import { Limits, NamePattern } from "./Limits.ts"

const bounded = (max: number) => Schema.String.pipe(Schema.maxLength(max))
const nonEmptyBounded = (max: number) => Schema.String.pipe(Schema.minLength(1), Schema.maxLength(max))

/** A local peer, room or group name; surrounding whitespace is trimmed before the check. */
export const Name = Schema.compose(
  Schema.Trim,
  Schema.String.pipe(
    Schema.pattern(NamePattern, {
      message: () => "a name is 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'"
    })
  )
)

/** A hub id in federation: `[A-Za-z0-9_-]{1,64}` (no dot, so `name@hub` splits unambiguously). */
export const HubIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/** A recipient: a local name or `name@hub_id`. */
export const Address = Schema.compose(
  Schema.Trim,
  Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9._-]{1,64}(@[A-Za-z0-9_-]{1,64})?$/, {
      message: () => "a recipient is a peer name (1–64 of A–Z a–z 0–9 . _ -), optionally followed by @hub_id"
    })
  )
)

const ReqId = bounded(Limits.maxReqIdChars)
const Text = bounded(Limits.maxTextChars)
const optionalReqId = Schema.optional(ReqId)

// ---------------------------------------------------------------------------------------------
// Client → hub
// ---------------------------------------------------------------------------------------------

export const Ping = Schema.Struct({ type: Schema.Literal("ping"), req_id: optionalReqId })
export const Pong = Schema.Struct({ type: Schema.Literal("pong"), req_id: optionalReqId })

export const Register = Schema.Struct({
  type: Schema.Literal("register"),
  name: Name,
  cwd: Schema.optionalWith(Schema.NullOr(bounded(Limits.maxCwdChars)), { default: () => "" }),
  git_branch: Schema.optionalWith(Schema.NullOr(bounded(Limits.maxGitBranchChars)), { default: () => "" }),
  /** Checked by the handler, not here: an unknown version is `protocol_mismatch`, not `bad_args`. */
  protocol_version: Schema.Union(Schema.String, Schema.Number).pipe(Schema.optional),
  req_id: optionalReqId
})

export const Rename = Schema.Struct({ type: Schema.Literal("rename"), new_name: Name, req_id: optionalReqId })
export const ListPeers = Schema.Struct({ type: Schema.Literal("list_peers"), req_id: optionalReqId })

export const Send = Schema.Struct({
  type: Schema.Literal("send"),
  to: Address,
  text: Text,
  reply_to: Schema.optional(Schema.NullOr(bounded(Limits.maxReplyToChars))),
  urgent: Schema.optional(Schema.Boolean),
  /** [v6] idempotency key: a retried send with the same key from the same sender is stored once. */
  client_id: Schema.optional(nonEmptyBounded(Limits.maxMsgIdChars)),
  /** [v6] ask for a `receipt` frame when the recipient reads the message. */
  notify_read: Schema.optional(Schema.Boolean),
  req_id: optionalReqId
})

export const Inbox = Schema.Struct({
  type: Schema.Literal("inbox"),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, Limits.inboxMaxLimit))),
  since_id: Schema.optional(bounded(Limits.maxSinceIdChars)),
  req_id: optionalReqId
})

export const Broadcast = Schema.Struct({
  type: Schema.Literal("broadcast"),
  question: Text,
  broadcast_id: nonEmptyBounded(128),
  exclude_self: Schema.optional(Schema.Boolean),
  req_id: optionalReqId
})

export const Reply = Schema.Struct({
  type: Schema.Literal("reply"),
  ask_id: nonEmptyBounded(Limits.maxMsgIdChars),
  text: Text,
  req_id: optionalReqId
})

export const JoinRoom = Schema.Struct({ type: Schema.Literal("join_room"), room: Name, req_id: optionalReqId })
export const LeaveRoom = Schema.Struct({ type: Schema.Literal("leave_room"), room: Name, req_id: optionalReqId })
export const RoomMsg = Schema.Struct({
  type: Schema.Literal("room_msg"),
  room: Name,
  text: Text,
  msg_id: Schema.optional(nonEmptyBounded(Limits.maxMsgIdChars)),
  req_id: optionalReqId
})
export const ListRooms = Schema.Struct({ type: Schema.Literal("list_rooms"), req_id: optionalReqId })

export const GroupCreate = Schema.Struct({
  type: Schema.Literal("group_create"),
  name: Name,
  /** Validated name by name in the handler, so that every invalid one can be reported. */
  members: Schema.optionalWith(
    Schema.Array(bounded(256)).pipe(Schema.maxItems(Limits.maxGroupCreateMembers)),
    { default: () => [] }
  ),
  req_id: optionalReqId
})
export const GroupInvite = Schema.Struct({
  type: Schema.Literal("group_invite"),
  group: Name,
  peer: Name,
  req_id: optionalReqId
})
export const GroupRemove = Schema.Struct({
  type: Schema.Literal("group_remove"),
  group: Name,
  peer: Name,
  reason: Schema.optional(nonEmptyBounded(Limits.maxReasonChars)),
  req_id: optionalReqId
})
export const GroupLeave = Schema.Struct({ type: Schema.Literal("group_leave"), group: Name, req_id: optionalReqId })
export const GroupDelete = Schema.Struct({ type: Schema.Literal("group_delete"), group: Name, req_id: optionalReqId })
/** [v6] hand admin rights to another member. */
export const GroupTransfer = Schema.Struct({
  type: Schema.Literal("group_transfer"),
  group: Name,
  peer: Name,
  req_id: optionalReqId
})
export const GroupSend = Schema.Struct({
  type: Schema.Literal("group_send"),
  group: Name,
  text: Text,
  client_id: Schema.optional(nonEmptyBounded(Limits.maxMsgIdChars)),
  req_id: optionalReqId
})
export const GroupHistory = Schema.Struct({
  type: Schema.Literal("group_history"),
  group: Name,
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, Limits.groupHistoryMaxLimit))),
  req_id: optionalReqId
})
export const GroupList = Schema.Struct({ type: Schema.Literal("group_list"), req_id: optionalReqId })
export const GroupInfo = Schema.Struct({ type: Schema.Literal("group_info"), group: Name, req_id: optionalReqId })

/** [v6] announce the client and learn the hub's version and capabilities. */
export const Hello = Schema.Struct({
  type: Schema.Literal("hello"),
  client: Schema.optional(bounded(128)),
  req_id: optionalReqId
})
/** [v6] the client confirms that pushed messages reached its session. */
export const DeliverAck = Schema.Struct({
  type: Schema.Literal("deliver_ack"),
  msg_ids: Schema.Array(nonEmptyBounded(Limits.maxMsgIdChars)).pipe(Schema.maxItems(Limits.inboxMaxLimit)),
  req_id: optionalReqId
})
/** [v6] the session has read (acted on) these messages. */
export const MarkRead = Schema.Struct({
  type: Schema.Literal("mark_read"),
  msg_ids: Schema.Array(nonEmptyBounded(Limits.maxMsgIdChars)).pipe(Schema.maxItems(Limits.inboxMaxLimit)),
  req_id: optionalReqId
})
/** [v6] the delivery state of a message this peer sent. */
export const MsgStatus = Schema.Struct({
  type: Schema.Literal("msg_status"),
  msg_id: nonEmptyBounded(Limits.maxMsgIdChars),
  req_id: optionalReqId
})

export const ClientFrames = {
  ping: Ping,
  pong: Pong,
  register: Register,
  rename: Rename,
  list_peers: ListPeers,
  send: Send,
  inbox: Inbox,
  broadcast: Broadcast,
  reply: Reply,
  join_room: JoinRoom,
  leave_room: LeaveRoom,
  room_msg: RoomMsg,
  list_rooms: ListRooms,
  group_create: GroupCreate,
  group_invite: GroupInvite,
  group_remove: GroupRemove,
  group_leave: GroupLeave,
  group_delete: GroupDelete,
  group_transfer: GroupTransfer,
  group_send: GroupSend,
  group_history: GroupHistory,
  group_list: GroupList,
  group_info: GroupInfo,
  hello: Hello,
  deliver_ack: DeliverAck,
  mark_read: MarkRead,
  msg_status: MsgStatus
} as const

export type ClientFrameType = keyof typeof ClientFrames
export type ClientFrame = { [K in ClientFrameType]: (typeof ClientFrames)[K]["Type"] }[ClientFrameType]
export type ClientFrameOf<K extends ClientFrameType> = (typeof ClientFrames)[K]["Type"]

// ---------------------------------------------------------------------------------------------
// Hub → client
// ---------------------------------------------------------------------------------------------

export const PeerInfo = Schema.Struct({
  name: Schema.String,
  cwd: Schema.String,
  git_branch: Schema.String,
  /** Milliseconds since the epoch of the peer's last frame. */
  last_seen: Schema.Number
})
export type PeerInfo = typeof PeerInfo.Type

export const InboxMessage = Schema.Struct({
  msg_id: Schema.String,
  from: Schema.String,
  text: Schema.String,
  reply_to: Schema.NullOr(Schema.String),
  ts: Schema.String,
  urgent: Schema.optional(Schema.Boolean)
})
export type InboxMessage = typeof InboxMessage.Type

export const GroupMessage = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  text: Schema.String,
  ts: Schema.String,
  type: Schema.Literal("message", "system")
})
export type GroupMessage = typeof GroupMessage.Type

/** Hub → client frames, loosely typed: the hub builds them, clients and tests decode them. */
export type HubFrame =
  | { type: "ack"; req_id?: string; [k: string]: unknown }
  | { type: "err"; code: string; message?: string; req_id?: string; ask_id?: string }
  | { type: "ping"; req_id: string }
  | { type: "pong"; req_id?: string }
  | { type: string; req_id?: string; [k: string]: unknown }

