/**
 * The benchmark's producer, a process of its own. Two ways to offer load:
 * - `window`: keeps `window` requests un-answered (closed loop); a new one goes out per answer.
 * - `rate`: a constant offered rate (open loop, the wrk2 method): message i is due at
 *   `start + i / rate` and carries that intended time, so a stall anywhere shows as latency
 *   instead of silently lowering the rate (coordinated omission).
 * Answers (`send_ack`/`group_ack`/`err`, or the bare relay's `ack`) come back in request order, so a
 * FIFO of send times pairs each answer with its request.
 */
import { awaitReply, LineClient, now, onControl, pongFor, Recorder, registerLine, report } from "./Common.ts"

export interface SenderConfig {
  readonly socket: string
  readonly name: string
  readonly mode: "window" | "rate"
  /** Un-answered requests kept in flight (`window` mode); `0` = unlimited, held back only by socket back-pressure. */
  readonly window: number
  /** Messages per second (`rate` mode). */
  readonly rate: number
  /** The cap on un-answered requests in `rate` mode; beyond it the sender waits (and latency shows it). */
  readonly maxOutstanding: number
  readonly kind: "direct" | "group"
  /** Recipient (`direct`). */
  readonly to: string
  /** Group name and its members (`group`); the sender creates the group. */
  readonly group: string
  readonly members: ReadonlyArray<string>
  /** Characters of message text. */
  readonly size: number
  /** Wait this long for outstanding answers after the last send. */
  readonly drainMs: number
}

const config = JSON.parse(process.argv[2]!) as SenderConfig

const ringSize = 1 << 18
const sendTimes = new Float64Array(ringSize)
let head = 0
let tail = 0
const outstanding = () => tail - head

const ackLatency = new Recorder()
const lag = new Recorder()
let sent = 0
let sentInWindow = 0
let answered = 0
let answeredInWindow = 0
let errors = 0
let firstError: string | undefined
let measureStart = Number.POSITIVE_INFINITY
let measureEnd = Number.POSITIVE_INFINITY
let sending = false
let finished = false

const handshakeLines: Array<string> = []
let running = false

const padding = (length: number) => "x".repeat(Math.max(0, length))

const prefix =
  config.kind === "direct"
    ? `{"type":"send","to":${JSON.stringify(config.to)},"text":"t=`
    : `{"type":"group_send","group":${JSON.stringify(config.group)},"text":"t=`

/** One request line whose text is exactly `config.size` characters (timestamp, sequence, padding). */
const requestLine = (intended: number, seq: number): string => {
  const head = `${intended.toFixed(3)};s=${seq};`
  return `${prefix}${head}${padding(config.size - 2 - head.length)}","req_id":"${seq}"}\n`
}

const client = await LineClient.connect(config.socket, {
  onLines: (lines) => {
    if (!running) {
      handshakeLines.push(...lines)
      return
    }
    const at = now()
    let answers = 0
    for (const line of lines) {
      if (line.startsWith('{"type":"ping"')) {
        client.write(pongFor(line)!)
        continue
      }
      const isError = line.startsWith('{"type":"err"')
      if (!isError && !isAnswer(line)) continue
      if (head === tail) continue // an answer we did not count a request for (cannot happen in order)
      const sentAt = sendTimes[head++ & (ringSize - 1)]!
      answered++
      answers++
      if (isError) {
        errors++
        firstError ??= line.slice(0, 300)
      }
      if (sentAt >= measureStart && sentAt < measureEnd) {
        answeredInWindow++
        if (!isError) ackLatency.add(at - sentAt)
      }
    }
    if (answers > 0) pump()
  },
  onDrain: () => pump()
})

const isAnswer = (line: string) =>
  line.startsWith('{"type":"send_ack"') || line.startsWith('{"type":"group_ack"') || line.startsWith('{"type":"ack"')

/** Sends `intended` as a request: its send time is the intended one, so queueing before the write counts. */
const batch: Array<string> = []
const enqueue = (intended: number, actual: number) => {
  batch.push(requestLine(intended, sent))
  sendTimes[tail++ & (ringSize - 1)] = intended
  sent++
  if (intended >= measureStart && intended < measureEnd) {
    sentInWindow++
    lag.add(actual - intended)
  }
}

const flushBatch = () => {
  if (batch.length === 0) return
  client.write(batch.length === 1 ? batch[0]! : batch.join(""))
  batch.length = 0
}

/** Back-pressure: no more than this many bytes wait in our own buffer. */
const maxPendingBytes = 256 * 1024
let rateNext = 0
const rateInterval = config.mode === "rate" ? 1000 / config.rate : 0

const pump = () => {
  if (!sending) return
  const t = now()
  if (config.mode === "window") {
    const window = config.window === 0 ? ringSize - 1 : Math.min(config.window, ringSize - 1)
    if (t >= measureEnd) return stopSending()
    while (outstanding() < window && client.pendingBytes < maxPendingBytes && batch.length < 4096) enqueue(t, t)
    flushBatch()
    return
  }
  const cap = Math.min(config.maxOutstanding, ringSize - 1)
  while (rateNext <= t && rateNext < measureEnd && outstanding() < cap && client.pendingBytes < maxPendingBytes) {
    enqueue(rateNext, t)
    rateNext += rateInterval
  }
  flushBatch()
  if (rateNext >= measureEnd) stopSending()
}

/** Timer-driven in `rate` mode (the event loop's timer granularity, about 1 ms, shows up as `lag`). */
const tick = () => {
  if (!sending) return
  pump()
  if (sending) setTimeout(tick, 0)
}

const stopSending = () => {
  if (!sending) return
  sending = false
  const deadline = now() + config.drainMs
  const wait = () => {
    if (outstanding() === 0 || now() > deadline) return finish()
    setTimeout(wait, 5)
  }
  wait()
}

const finish = () => {
  if (finished) return
  finished = true
  report({
    type: "result",
    sent,
    sentInWindow,
    answered,
    answeredInWindow,
    unanswered: outstanding(),
    errors,
    firstError,
    ackLatency: ackLatency.summary(),
    lag: lag.summary()
  })
  client.close()
  setTimeout(() => process.exit(0), 20)
}

client.write(registerLine(config.name))
await awaitReply(handshakeLines, ["ack"])
if (config.kind === "group") {
  client.write(JSON.stringify({ type: "group_create", name: config.group, members: config.members, req_id: "create" }) + "\n")
  await awaitReply(handshakeLines, ["group_created"])
}
running = true
report({ type: "ready" })

onControl((message) => {
  if (message.type !== "go") return
  measureStart = message.measureStart as number
  measureEnd = message.measureEnd as number
  sending = true
  rateNext = now()
  if (config.mode === "rate") tick()
  else pump()
})
