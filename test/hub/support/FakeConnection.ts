/**
 * A socket-free `Connection` for actor-level tests: it records every line the hub queues and who
 * closed it, so a test can tell a hub-side eviction from the client hanging up.
 */
import { Stream } from "effect"
import type { Connection } from "../../../src/hub/Connection.ts"

export class FakeConnection implements Connection {
  readonly transport = "memory" as const
  /** The registry never reads lines; the session that would is played by the test itself. */
  readonly lines: Stream.Stream<string> = Stream.never
  /** Lines queued while open, in order. */
  readonly sent: Array<string> = []
  /** Every `close` the hub called, even on an already closed connection (a double eviction shows). */
  readonly hubCloses: Array<string> = []
  closedBy: "hub" | "client" | undefined = undefined

  constructor(readonly id: number) {}

  readonly send = (line: string): boolean => {
    if (this.closedBy !== undefined) return false
    this.sent.push(line)
    return true
  }

  readonly close = (reason: string): void => {
    this.hubCloses.push(reason)
    if (this.closedBy === undefined) this.closedBy = "hub"
  }

  readonly isOpen = (): boolean => this.closedBy === undefined

  /** The client side goes away (crash, kill, network drop). */
  hangUp(): void {
    if (this.closedBy === undefined) this.closedBy = "client"
  }

  /** A connection that is closed from the start. */
  static closed(id: number): FakeConnection {
    const connection = new FakeConnection(id)
    connection.hangUp()
    return connection
  }
}
