/**
 * Ephemeral rooms: in memory only, gone when the last member leaves or disconnects.
 *
 * Members are held as `Peer` references, so a rename shows up in every room at once. Every change
 * is a single synchronous step, so two joins can never interleave half-way.
 */
import { Context, Effect, Layer } from "effect"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import { HubConfig } from "./HubConfig.ts"
import type { Peer } from "./Peer.ts"

export interface RoomView {
  readonly name: string
  readonly members: ReadonlyArray<string>
}

export class Rooms extends Context.Tag("relay/Rooms")<
  Rooms,
  {
    readonly join: (room: string, peer: Peer) => Effect.Effect<RoomView, RequestError>
    /** Leaving a room one is not in is fine. */
    readonly leave: (room: string, peer: Peer) => Effect.Effect<void>
    readonly leaveAll: (peer: Peer) => Effect.Effect<void>
    /** Delivers to every member but the sender; a room that does not exist reaches nobody. */
    readonly post: (room: string, from: Peer, frameLine: string) => Effect.Effect<number>
    readonly list: () => Effect.Effect<ReadonlyArray<RoomView>>
    readonly roomsOf: (peer: Peer) => ReadonlyArray<string>
  }
>() {}

export const make = Effect.gen(function* () {
  const config = yield* HubConfig
  const rooms = new Map<string, Set<Peer>>()

  const view = (name: string, members: Set<Peer>): RoomView => ({
    name,
    members: [...members].map((peer) => peer.name)
  })

  const remove = (room: string, peer: Peer) => {
    const members = rooms.get(room)
    if (members === undefined) return
    members.delete(peer)
    if (members.size === 0) rooms.delete(room)
  }

  return Rooms.of({
    join: Effect.fn("Rooms.join")(function* (room: string, peer: Peer) {
      let members = rooms.get(room)
      if (members === undefined) {
        if (rooms.size >= config.maxRooms) {
          return yield* requestError(
            "bad_args",
            `the hub already has ${config.maxRooms} rooms (the cap); join an existing room (relay_rooms lists them)`
          )
        }
        members = new Set()
        rooms.set(room, members)
      }
      if (!members.has(peer) && members.size >= config.maxRoomMembers) {
        if (members.size === 0) rooms.delete(room)
        return yield* requestError("bad_args", `room '${room}' is full (${config.maxRoomMembers} members, the cap)`)
      }
      members.add(peer)
      return view(room, members)
    }),
    leave: (room, peer) => Effect.sync(() => remove(room, peer)),
    leaveAll: (peer) =>
      Effect.sync(() => {
        for (const [room, members] of rooms) if (members.has(peer)) remove(room, peer)
      }),
    post: (room, from, line) =>
      Effect.sync(() => {
        const members = rooms.get(room)
        if (members === undefined) return 0
        let delivered = 0
        for (const member of members) {
          if (member !== from && member.sendLine(line)) delivered++
        }
        return delivered
      }),
    list: () => Effect.sync(() => [...rooms].map(([name, members]) => view(name, members))),
    roomsOf: (peer) => [...rooms].filter(([, members]) => members.has(peer)).map(([name]) => name)
  })
})

export const layer = Layer.effect(Rooms, make)
