/**
 * Shared inputs for the protocol tests: one minimal valid frame per client frame type, and the
 * predicate that keeps generated values inside what JSON can carry.
 */
import type { ClientFrameType } from "../../src/protocol/Frames.ts"

/** The smallest frame of each type that the hub accepts; tests vary one field at a time from it. */
export const minimalFrames: { readonly [K in ClientFrameType]: Readonly<Record<string, unknown>> } = {
  ping: { type: "ping" },
  pong: { type: "pong" },
  register: { type: "register", name: "alice" },
  rename: { type: "rename", new_name: "alice2" },
  list_peers: { type: "list_peers" },
  send: { type: "send", to: "bob", text: "hi" },
  inbox: { type: "inbox" },
  broadcast: { type: "broadcast", question: "q?", broadcast_id: "b1" },
  reply: { type: "reply", ask_id: "b1:alice", text: "a" },
  join_room: { type: "join_room", room: "lobby" },
  leave_room: { type: "leave_room", room: "lobby" },
  room_msg: { type: "room_msg", room: "lobby", text: "hi" },
  list_rooms: { type: "list_rooms" },
  group_create: { type: "group_create", name: "team" },
  group_invite: { type: "group_invite", group: "team", peer: "bob" },
  group_remove: { type: "group_remove", group: "team", peer: "bob" },
  group_leave: { type: "group_leave", group: "team" },
  group_delete: { type: "group_delete", group: "team" },
  group_transfer: { type: "group_transfer", group: "team", peer: "bob" },
  group_send: { type: "group_send", group: "team", text: "hi" },
  group_history: { type: "group_history", group: "team" },
  group_list: { type: "group_list" },
  group_info: { type: "group_info", group: "team" },
  hello: { type: "hello" },
  deliver_ack: { type: "deliver_ack", msg_ids: [] },
  mark_read: { type: "mark_read", msg_ids: [] },
  msg_status: { type: "msg_status", msg_id: "m1" }
}

/**
 * JSON has no NaN, no infinities and no negative zero: `JSON.stringify` turns them into `null` or
 * `0`. Generated values containing them cannot survive the wire, whatever the hub does.
 */
export const jsonFaithful = (value: unknown): boolean => {
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0)
  if (Array.isArray(value)) return value.every(jsonFaithful)
  if (typeof value === "object" && value !== null) return Object.values(value).every(jsonFaithful)
  return true
}

/** `depth` nested arrays: `[[[…]]]`. */
export const nestedArrays = (depth: number): string => "[".repeat(depth) + "]".repeat(depth)

/** `depth` nested objects: `{"a":{"a":…{}}}`. */
export const nestedObjects = (depth: number): string => '{"a":'.repeat(depth) + "{}" + "}".repeat(depth)
