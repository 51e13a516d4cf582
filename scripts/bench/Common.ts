/**
 * What the benchmark's child processes share: a clock every process on the machine agrees on, a
 * latency recorder, a line-oriented Unix socket client with coalesced writes, and the control
 * channel to the orchestrator (JSON lines on stdin/stdout).
 */

/**
 * Milliseconds on the wall clock with sub-microsecond resolution. `performance.timeOrigin` is the
 * process's start on the real-time clock, so senders and receivers in different processes compare
 * their readings directly (Bun's `process.hrtime` counts from process start and would not).
 */
export const now = (): number => performance.timeOrigin + performance.now()

export interface LatencySummary {
  readonly n: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly min: number
}

/** Every sample kept (a few hundred thousand per step at most), sorted once at the end: exact percentiles. */
export class Recorder {
  private samples = new Float64Array(1 << 16)
  private count = 0

  add(ms: number): void {
    if (this.count === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2)
      bigger.set(this.samples)
      this.samples = bigger
    }
    this.samples[this.count++] = ms
  }

  get size(): number {
    return this.count
  }

  summary(): LatencySummary | null {
    if (this.count === 0) return null
    const sorted = this.samples.slice(0, this.count).sort()
    // Nearest-rank percentile: the smallest sample with at least q of all samples at or below it.
    const at = (q: number) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))]!
    let sum = 0
    for (let i = 0; i < this.count; i++) sum += sorted[i]!
    return {
      n: this.count,
      mean: sum / this.count,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: sorted[this.count - 1]!,
      min: sorted[0]!
    }
  }
}

export interface LineClientHandlers {
  /** The complete lines of one read, in order. */
  readonly onLines: (lines: ReadonlyArray<string>) => void
  /** Everything queued has reached the kernel. */
  readonly onDrain?: () => void
  readonly onClose?: () => void
}

/**
 * One NDJSON connection. `write` never drops bytes: what the kernel does not take now waits in
 * `pending` and goes out on `drain`, and `pendingBytes` lets producers hold back.
 */
export class LineClient {
  private pending: Array<Uint8Array> = []
  pendingBytes = 0
  private readonly encoder = new TextEncoder()

  private constructor(private socket: Bun.Socket<undefined>) {}

  static async connect(path: string, handlers: LineClientHandlers): Promise<LineClient> {
    const decoder = new TextDecoder()
    let carry = ""
    let client: LineClient | undefined
    const socket = await Bun.connect({
      unix: path,
      socket: {
        data(_socket, chunk) {
          const text = carry + decoder.decode(chunk, { stream: true })
          const parts = text.split("\n")
          carry = parts.pop()!
          if (parts.length > 0) handlers.onLines(parts)
        },
        drain() {
          client?.flushPending()
          if (client !== undefined && client.pendingBytes === 0) handlers.onDrain?.()
        },
        close() {
          handlers.onClose?.()
        },
        error() {}
      }
    })
    client = new LineClient(socket)
    return client
  }

  write(data: string): void {
    const bytes = this.encoder.encode(data)
    if (this.pendingBytes > 0) {
      this.pending.push(bytes)
      this.pendingBytes += bytes.length
      return
    }
    const written = this.socket.write(bytes)
    if (written < bytes.length) {
      const rest = bytes.subarray(Math.max(0, written))
      this.pending.push(rest)
      this.pendingBytes += rest.length
    }
  }

  private flushPending(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]!
      const written = this.socket.write(head)
      if (written < head.length) {
        this.pending[0] = head.subarray(Math.max(0, written))
        this.pendingBytes -= Math.max(0, written)
        return
      }
      this.pending.shift()
      this.pendingBytes -= head.length
    }
  }

  close(): void {
    this.socket.end()
  }
}

/** A v5 registration, as a real session sends it. */
export const registerLine = (name: string) =>
  JSON.stringify({ type: "register", name, cwd: "/", git_branch: "", protocol_version: "5", req_id: "reg" }) + "\n"

/** Liveness pings from the hub must be answered or the hub evicts the peer mid-run. */
export const pongFor = (line: string): string | undefined => {
  if (!line.startsWith('{"type":"ping"')) return undefined
  const frame = JSON.parse(line) as { req_id?: string }
  return JSON.stringify({ type: "pong", req_id: frame.req_id }) + "\n"
}

/** Waits for the first line of one of the `wanted` types; an `err` ends the run (a handshake failed). */
export const awaitReply = (
  lines: Array<string>,
  wanted: ReadonlyArray<string>,
  timeoutMs = 10_000
): Promise<string> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const poll = () => {
      while (lines.length > 0) {
        const line = lines.shift()!
        if (line.startsWith('{"type":"err"')) return reject(new Error(`hub answered ${line}`))
        if (wanted.some((t) => line.startsWith(`{"type":"${t}"`))) return resolve(line)
      }
      if (Date.now() - started > timeoutMs) return reject(new Error(`no ${wanted.join("/")} within ${timeoutMs} ms`))
      setTimeout(poll, 2)
    }
    poll()
  })

/** Control messages from the orchestrator, one JSON object per stdin line. */
export const onControl = (handler: (message: Record<string, unknown>) => void): void => {
  const decoder = new TextDecoder()
  let carry = ""
  process.stdin.on("data", (chunk: Buffer) => {
    const parts = (carry + decoder.decode(chunk, { stream: true })).split("\n")
    carry = parts.pop()!
    for (const part of parts) if (part.trim() !== "") handler(JSON.parse(part) as Record<string, unknown>)
  })
}

/** One JSON line to the orchestrator. */
export const report = (message: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(message) + "\n")
}

/** Where the timestamp sits in every benchmark message text: `t=<ms>;s=<seq>;xxxx…`. */
export const textMarker = '"text":"t='

/** The send time carried by a pushed line, or NaN when it is not a benchmark message. */
export const sendTimeOf = (line: string): number => {
  const at = line.indexOf(textMarker)
  if (at === -1) return Number.NaN
  const start = at + textMarker.length
  return Number(line.slice(start, line.indexOf(";", start)))
}
