/**
 * The benchmark's consumer, a process of its own: one connection per name (a group's members are
 * many connections in this one process). Each pushed benchmark message carries its send time; the
 * receiver records push latency for messages sent inside the measuring window and counts all of
 * them, so the orchestrator can tell drops (sent but never received) apart from slowness.
 */
import { LineClient, now, onControl, pongFor, Recorder, registerLine, report, sendTimeOf } from "./Common.ts"

export interface ReceiverConfig {
  readonly socket: string
  readonly names: ReadonlyArray<string>
}

const config = JSON.parse(process.argv[2]!) as ReceiverConfig

const latency = new Recorder()
let total = 0
let inWindow = 0
let measureStart = Number.POSITIVE_INFINITY
let measureEnd = Number.POSITIVE_INFINITY
let registered = 0
let firstError: string | undefined

const clients = await Promise.all(
  config.names.map(async (name) => {
    let waiting = true
    const client: LineClient = await LineClient.connect(config.socket, {
      onLines: (lines) => {
        for (const line of lines) {
          const sentAt = sendTimeOf(line)
          if (sentAt === sentAt) {
            total++
            if (sentAt >= measureStart && sentAt < measureEnd) {
              inWindow++
              latency.add(now() - sentAt)
            }
            continue
          }
          if (waiting && line.startsWith('{"type":"ack"')) {
            waiting = false
            registered++
            continue
          }
          if (line.startsWith('{"type":"err"')) firstError ??= line.slice(0, 300)
          const pong = pongFor(line)
          if (pong !== undefined) client.write(pong)
        }
      }
    })
    client.write(registerLine(name))
    return client
  })
)

const started = Date.now()
while (registered < clients.length) {
  if (firstError !== undefined) throw new Error(`registration failed: ${firstError}`)
  if (Date.now() - started > 10_000) throw new Error(`only ${registered} of ${clients.length} registered in 10 s`)
  await Bun.sleep(2)
}
report({ type: "ready" })

const finish = () => {
  report({ type: "result", total, inWindow, latency: latency.summary(), firstError })
  for (const client of clients) client.close()
  setTimeout(() => process.exit(0), 20)
}

onControl((message) => {
  if (message.type === "go") {
    measureStart = message.measureStart as number
    measureEnd = message.measureEnd as number
    return
  }
  if (message.type === "stop") {
    // Everything the sender had answered should arrive; wait for it a bounded time (then it counts as dropped).
    const expect = message.expect as number
    const deadline = Date.now() + (message.graceMs as number)
    const wait = () => (total >= expect || Date.now() > deadline ? finish() : setTimeout(wait, 5))
    wait()
  }
})
