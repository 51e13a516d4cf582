/**
 * `npm run bench`: direct-message and group fan-out throughput and latency through a real hub
 * process, against a bare NDJSON relay measured in the same run (the transport's physical limit on
 * this machine). Sender, receivers, relay and hub are separate processes; this one only starts
 * them, tells them when the measuring window opens and closes, and prints what they saw.
 *
 * Flags: --json (machine output), --duration <s> (per step, default 3), --warmup <s> (default 1),
 * --size <chars> (message text, default 128), --window <n> (default 64), --rates <r1,r2,..> (msg/s
 * for the constant-rate steps; default 25%, 50%, 90% and 150% of the hub's measured window rate),
 * --skip-rates, --skip-groups, --keep (keep the temp directory), --hub-root <dir> (run the hub from another checkout,
 * e.g. to compare revisions; default this repository), --profile <dir> (run the hub under
 * `bun --cpu-prof --cpu-prof-md`, profiles written to <dir> when it exits).
 * See docs/benchmarks.md for what each number means.
 */
import type { Subprocess } from "bun"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { LatencySummary } from "./bench/Common.ts"
import type { SenderConfig } from "./bench/sender.ts"
import type { ReceiverConfig } from "./bench/receiver.ts"

const root = path.resolve(import.meta.dir, "..")
const benchDir = path.join(import.meta.dir, "bench")
const bun = process.execPath

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const option = (name: string, fallback: string) => {
  const at = argv.indexOf(`--${name}`)
  return at !== -1 && argv[at + 1] !== undefined ? argv[at + 1]! : fallback
}
const options = {
  json: flag("json"),
  durationMs: Number(option("duration", "3")) * 1000,
  warmupMs: Number(option("warmup", "1")) * 1000,
  size: Number(option("size", "128")),
  window: Number(option("window", "64")),
  rates: option("rates", "")
    .split(",")
    .filter((r) => r.trim() !== "")
    .map(Number),
  skipRates: flag("skip-rates"),
  skipGroups: flag("skip-groups"),
  keep: flag("keep"),
  hubRoot: path.resolve(option("hub-root", root)),
  profileDir: option("profile", "")
}
const targetShare = 0.2
const targetP99Ms = 5

const log = (line: string) => {
  if (!options.json) console.log(line)
  else console.error(line)
}

// ---------------------------------------------------------------- child processes

/** A child speaking JSON lines on stdout; non-JSON lines (the hub's) are kept for diagnostics. */
class Child {
  /** Every child not yet exited: with this process, all the CPU the benchmark itself uses. */
  static readonly live = new Set<Child>()
  readonly messages: Array<Record<string, unknown>> = []
  readonly tail: Array<string> = []
  private exited = false
  private constructor(readonly label: string, readonly proc: Subprocess<"pipe", "pipe", "pipe">) {
    void this.read(proc.stdout, true)
    void this.read(proc.stderr, false)
    Child.live.add(this)
    void proc.exited.then(() => {
      this.exited = true
      Child.live.delete(this)
    })
  }

  static spawn(label: string, cmd: Array<string>, env: Record<string, string> = {}) {
    const proc = Bun.spawn(cmd, {
      cwd: root,
      env: { ...process.env, ...env },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe"
    })
    return new Child(label, proc)
  }

  private async read(stream: ReadableStream<Uint8Array>, parse: boolean) {
    const decoder = new TextDecoder()
    let carry = ""
    for await (const chunk of stream) {
      const parts = (carry + decoder.decode(chunk, { stream: true })).split("\n")
      carry = parts.pop()!
      for (const line of parts) {
        if (parse && line.startsWith("{")) {
          try {
            this.messages.push(JSON.parse(line) as Record<string, unknown>)
            continue
          } catch {}
        }
        this.tail.push(line)
        if (this.tail.length > 40) this.tail.shift()
      }
    }
  }

  /** The first message (or raw line) that satisfies `test`, consumed. */
  async waitFor(test: (m: Record<string, unknown>) => boolean, timeoutMs: number, rawTest?: (line: string) => boolean) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = this.messages.findIndex(test)
      if (at !== -1) return this.messages.splice(at, 1)[0]!
      if (rawTest !== undefined && this.tail.some(rawTest)) return {}
      if (this.exited) throw new Error(`${this.label} exited (${this.proc.exitCode}):\n${this.tail.join("\n")}`)
      if (Date.now() > deadline) throw new Error(`${this.label}: nothing within ${timeoutMs} ms:\n${this.tail.join("\n")}`)
      await Bun.sleep(2)
    }
  }

  send(message: Record<string, unknown>) {
    this.proc.stdin.write(JSON.stringify(message) + "\n")
    void this.proc.stdin.flush()
  }

  async stop() {
    if (!this.exited) this.proc.kill("SIGTERM")
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000)
    await this.proc.exited
    clearTimeout(timer)
  }
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); `undefined` elsewhere. */
const clockTicks = 100
const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return undefined
  }
}

/**
 * CPU seconds the whole machine spent busy (user, nice, system, irq, softirq over all cores), from
 * /proc/stat; `undefined` off Linux.
 */
const machineBusySeconds = (): number | undefined => {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields
    return (user + nice + system + irq + softirq) / clockTicks
  } catch {
    return undefined
  }
}

/** CPU seconds this process and its live children have used. */
const ownSeconds = (): number | undefined => {
  let total = cpuSeconds(process.pid)
  for (const child of Child.live) {
    const own = cpuSeconds(child.proc.pid)
    total = total === undefined || own === undefined ? undefined : total + own
  }
  return total
}

/**
 * A step during which something else used more than this share of a core: its numbers (and the
 * ratios against a baseline that may have run in better or worse conditions) are not to be trusted.
 */
const otherCoresWarning = 0.15

// ---------------------------------------------------------------- one step

interface SenderResult {
  sent: number
  sentInWindow: number
  answered: number
  answeredInWindow: number
  unanswered: number
  errors: number
  firstError?: string
  ackLatency: LatencySummary | null
  lag: LatencySummary | null
}
interface ReceiverResult {
  total: number
  inWindow: number
  latency: LatencySummary | null
  firstError?: string
}

export interface StepResult {
  readonly name: string
  readonly server: "hub" | "relay-bun" | "relay-net"
  readonly kind: "direct" | "group"
  readonly mode: "window" | "rate"
  readonly window: number
  readonly members: number
  readonly offeredPerSec: number | null
  readonly durationS: number
  /** Answers (acks) per second to requests sent inside the window. */
  readonly acksPerSec: number
  /** Messages (direct) or sends (group) fully received per second. */
  readonly messagesPerSec: number
  /** Pushes received per second (= messages × members for a group). */
  readonly deliveriesPerSec: number
  /** Send (intended send, at a constant rate) → receiver push, in ms. */
  readonly latency: LatencySummary | null
  /** Send → ack, in ms. */
  readonly ackLatency: LatencySummary | null
  /** Intended → actual send time in `rate` steps: the sender's own timer granularity. */
  readonly senderLag: LatencySummary | null
  /** Deliveries due from sends inside the window that never arrived. */
  readonly drops: number
  readonly errors: number
  readonly firstError?: string
  /** The server's CPU use during the window, in cores (1.0 = one core busy). */
  readonly serverCores: number | null
  /** CPU the machine spent on anything but the benchmark's processes during the window, in cores. */
  readonly otherCores: number | null
}

interface StepSpec {
  readonly name: string
  readonly server: StepResult["server"]
  readonly socket: string
  readonly serverPid: number
  readonly kind: "direct" | "group"
  readonly mode: "window" | "rate"
  readonly window: number
  readonly rate: number
  readonly members: number
  /** The receiver's name for a direct step; the relay forwards to one fixed name. */
  readonly recvName?: string
}

/** The one name the bare relay forwards to. */
const relayTarget = "bench-recv"
let stepCounter = 0

const runStep = async (spec: StepSpec): Promise<StepResult> => {
  const id = ++stepCounter
  const recvNames =
    spec.kind === "direct"
      ? [spec.recvName ?? `bench-recv-${id}`]
      : Array.from({ length: spec.members }, (_, i) => `bench-m${i}-${id}`)
  const receiverConfig: ReceiverConfig = { socket: spec.socket, names: recvNames }
  const receiver = Child.spawn(`receiver (${spec.name})`, [bun, path.join(benchDir, "receiver.ts"), JSON.stringify(receiverConfig)])
  const senderConfig: SenderConfig = {
    socket: spec.socket,
    name: `bench-send-${id}`,
    mode: spec.mode,
    window: spec.window,
    rate: spec.rate,
    maxOutstanding: 20_000,
    kind: spec.kind,
    to: recvNames[0]!,
    group: `bench-g-${id}`,
    members: recvNames,
    size: options.size,
    drainMs: 5_000
  }
  try {
    await receiver.waitFor((m) => m.type === "ready", 15_000)
    const sender = Child.spawn(`sender (${spec.name})`, [bun, path.join(benchDir, "sender.ts"), JSON.stringify(senderConfig)])
    try {
      await sender.waitFor((m) => m.type === "ready", 15_000)
      const measureStart = performance.timeOrigin + performance.now() + options.warmupMs
      const measureEnd = measureStart + options.durationMs
      const go = { type: "go", measureStart, measureEnd }
      receiver.send(go)
      sender.send(go)
      const cpu: Array<number | undefined> = []
      const machine: Array<number | undefined> = []
      const own: Array<number | undefined> = []
      const wallNow = () => performance.timeOrigin + performance.now()
      await Bun.sleep(Math.max(0, measureStart - wallNow()))
      cpu.push(cpuSeconds(spec.serverPid))
      machine.push(machineBusySeconds())
      own.push(ownSeconds())
      await Bun.sleep(Math.max(0, measureEnd - wallNow()))
      cpu.push(cpuSeconds(spec.serverPid))
      machine.push(machineBusySeconds())
      own.push(ownSeconds())
      const sent = (await sender.waitFor((m) => m.type === "result", 30_000)) as unknown as SenderResult
      const perSend = spec.kind === "group" ? spec.members : 1
      receiver.send({ type: "stop", expect: sent.sent * perSend, graceMs: 2_000 })
      const received = (await receiver.waitFor((m) => m.type === "result", 30_000)) as unknown as ReceiverResult
      const seconds = options.durationMs / 1000
      const [before, after] = cpu
      const [machineBefore, machineAfter] = machine
      const [ownBefore, ownAfter] = own
      return {
        name: spec.name,
        server: spec.server,
        kind: spec.kind,
        mode: spec.mode,
        window: spec.mode === "window" ? spec.window : 0,
        members: spec.kind === "group" ? spec.members : 1,
        offeredPerSec: spec.mode === "rate" ? spec.rate : null,
        durationS: seconds,
        acksPerSec: sent.answeredInWindow / seconds,
        messagesPerSec: received.inWindow / perSend / seconds,
        deliveriesPerSec: received.inWindow / seconds,
        latency: spec.mode === "window" && spec.window === 0 ? null : received.latency,
        ackLatency: spec.mode === "window" && spec.window === 0 ? null : sent.ackLatency,
        senderLag: spec.mode === "rate" ? sent.lag : null,
        drops: Math.max(0, sent.sentInWindow * perSend - received.inWindow),
        errors: sent.errors,
        ...(sent.firstError ?? received.firstError ? { firstError: sent.firstError ?? received.firstError } : {}),
        serverCores: before !== undefined && after !== undefined ? (after - before) / seconds : null,
        otherCores:
          machineBefore === undefined || machineAfter === undefined || ownBefore === undefined || ownAfter === undefined
            ? null
            : // Both counters tick at 10 ms: a little noise either way, never a real negative.
              Math.max(0, machineAfter - machineBefore - (ownAfter - ownBefore)) / seconds
      }
    } finally {
      await sender.stop()
    }
  } finally {
    await receiver.stop()
  }
}

// ---------------------------------------------------------------- servers

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "relay-bench-"))

const startRelay = async (api: "bun" | "net") => {
  const socket = path.join(tmp, `relay-${api}.sock`)
  const child = Child.spawn(`relay (${api})`, [bun, path.join(benchDir, "relay.ts"), JSON.stringify({ socket, to: relayTarget, api })])
  await child.waitFor((m) => m.type === "ready", 15_000)
  return { child, socket }
}

const startHub = async () => {
  const home = path.join(tmp, "hub")
  const child = Child.spawn("hub", [
    bun,
    ...(options.profileDir === "" ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${path.resolve(options.profileDir)}`]),
    path.join(options.hubRoot, "src/runtime/bun.ts"),
    "hub"
  ], {
    RELAY_HOME: home,
    // No WebSocket endpoint: its fixed default port may be taken by a hub already running here.
    RELAY_WS_PORT: "0"
  })
  await child.waitFor(() => false, 30_000, (line) => line.includes("ready"))
  return { child, socket: path.join(home, "hub.sock"), home }
}

// ---------------------------------------------------------------- run

const fmtRate = (n: number | null) => (n === null ? "-" : n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0))
const fmtMs = (n: number | undefined) =>
  n === undefined ? "-" : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toFixed(3)

const main = async () => {
  const started = Date.now()
  const steps: Array<StepResult> = []
  const children: Array<Child> = []
  const step = async (spec: StepSpec) => {
    log(`  … ${spec.name}`)
    const result = await runStep(spec)
    steps.push(result)
    return result
  }
  log(`relay benchmark: ${os.cpus().length} cores, bun ${Bun.version}, ${options.durationMs / 1000} s per step after ${options.warmupMs / 1000} s warm-up, text ${options.size} chars`)
  try {
    const direct = (name: string, server: StepSpec["server"], s: { socket: string; child: Child }, mode: "window" | "rate", window: number, rate: number): StepSpec => ({
      name,
      server,
      socket: s.socket,
      serverPid: s.child.proc.pid,
      kind: "direct",
      mode,
      window,
      rate,
      members: 1
    })

    // 1. Baselines, each relay alone on the machine while it is measured; the faster one is the baseline.
    const relays = { bun: await startRelay("bun"), net: await startRelay("net") }
    children.push(relays.bun.child, relays.net.child)
    const relayResults: Record<"bun" | "net", StepResult> = {
      bun: await step({ ...direct(`bare relay (Bun.listen), window ${options.window}`, "relay-bun", relays.bun, "window", options.window, 0), recvName: relayTarget }),
      net: await step({ ...direct(`bare relay (node:net), window ${options.window}`, "relay-net", relays.net, "window", options.window, 0), recvName: relayTarget })
    }
    await step({ ...direct(`bare relay (Bun.listen), no window`, "relay-bun", relays.bun, "window", 0, 0), recvName: relayTarget })
    const baselineApi: "bun" | "net" = relayResults.bun.messagesPerSec >= relayResults.net.messagesPerSec ? "bun" : "net"
    const otherApi = baselineApi === "bun" ? "net" : "bun"
    const baseline = relayResults[baselineApi]
    const baselineRelay = relays[baselineApi]
    await relays[otherApi].child.stop()

    // 2. The hub at a fixed window.
    const hub = await startHub()
    children.push(hub.child)
    const hubSpec = { socket: hub.socket, child: hub.child }
    // Warm the hub's code paths and database once before any measured step.
    await runStep(direct("hub warm-up", "hub", hubSpec, "window", options.window, 0))
    const hubWindow = await step(direct(`hub durable DM, window ${options.window}`, "hub", hubSpec, "window", options.window, 0))

    // 3. Group fan-out.
    for (const members of options.skipGroups ? [] : [10, 20]) {
      await step({ ...direct(`hub group fan-out to ${members}, window ${options.window}`, "hub", hubSpec, "window", options.window, 0), kind: "group", members })
    }

    // 4. Constant offered rate, hub then the baseline relay at the same rates.
    if (!options.skipRates) {
      const max = hubWindow.messagesPerSec
      const rates = options.rates.length > 0 ? options.rates : [0.25, 0.5, 0.9, 1.5].map((f) => Math.max(100, Math.round((max * f) / 100) * 100))
      for (const rate of rates) await step(direct(`hub durable DM @ ${fmtRate(rate)}/s`, "hub", hubSpec, "rate", 0, rate))
      await hub.child.stop()
      for (const rate of rates) {
        await step({ ...direct(`bare relay @ ${fmtRate(rate)}/s`, `relay-${baselineApi}`, baselineRelay, "rate", 0, rate), recvName: relayTarget })
      }
    }

    const share = hubWindow.messagesPerSec / baseline.messagesPerSec
    const p99 = Math.max(hubWindow.latency?.p99 ?? Number.POSITIVE_INFINITY, hubWindow.ackLatency?.p99 ?? Number.POSITIVE_INFINITY)
    const verdict = {
      target: `durable DMs >= ${targetShare * 100}% of the bare relay's rate with p99 <= ${targetP99Ms} ms at window ${options.window}`,
      share,
      p99Ms: p99,
      rateOk: share >= targetShare,
      p99Ok: p99 <= targetP99Ms,
      result: share >= targetShare && p99 <= targetP99Ms && hubWindow.drops === 0 && hubWindow.errors === 0 ? "PASS" : "MISS"
    }
    const busyOthers = steps.filter((step) => (step.otherCores ?? 0) > otherCoresWarning)
    const output = {
      /** False when something outside the benchmark used the CPU during a step (see `otherCores`). */
      quiet: busyOthers.length === 0,
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}`, bun: Bun.version },
      options: { durationS: options.durationMs / 1000, warmupS: options.warmupMs / 1000, textChars: options.size, window: options.window },
      baseline: { server: baseline.server, messagesPerSec: baseline.messagesPerSec },
      steps: steps.map((s) => ({ ...s, ratioToBaseline: s.messagesPerSec / baseline.messagesPerSec })),
      verdict,
      elapsedS: (Date.now() - started) / 1000
    }
    if (options.json) {
      console.log(JSON.stringify(output, null, 2))
      return
    }
    printTable(steps, baseline)
    log("")
    log(`baseline: ${baseline.name} = ${fmtRate(baseline.messagesPerSec)} msg/s (relay-${otherApi} did ${fmtRate(relayResults[otherApi].messagesPerSec)} msg/s)`)
    log(
      `target (issue 3): ${verdict.target}: ${verdict.result} — hub ${fmtRate(hubWindow.messagesPerSec)} msg/s = ${(share * 100).toFixed(1)}% of baseline (${verdict.rateOk ? "ok" : "miss"}), p99 ${fmtMs(p99)} ms (${verdict.p99Ok ? "ok" : "miss"})`
    )
    if (busyOthers.length > 0) {
      log(
        `WARNING: other processes used more than ${otherCoresWarning * 100}% of a core during ${busyOthers.length} step${busyOthers.length === 1 ? "" : "s"} (${busyOthers.map((step) => step.name).join("; ")}): this run's numbers and ratios are not to be trusted; find them with \`top\`, stop them and run again`
      )
    }
    log(`whole run: ${output.elapsedS.toFixed(0)} s`)
  } finally {
    for (const child of children) {
      await child.stop()
    }
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true })
    else log(`kept ${tmp}`)
  }
}

const printTable = (steps: ReadonlyArray<StepResult>, baseline: StepResult) => {
  const header = ["step", "offered/s", "acks/s", "msgs/s", "deliv/s", "x base", "p50", "p90", "p99", "p99.9", "max", "ack p50", "ack p99", "drops", "errs", "srv cpu", "µs/msg", "other"]
  const rows = steps.map((s) => [
    s.name,
    fmtRate(s.offeredPerSec),
    fmtRate(s.acksPerSec),
    fmtRate(s.messagesPerSec),
    fmtRate(s.deliveriesPerSec),
    (s.messagesPerSec / baseline.messagesPerSec).toFixed(3),
    fmtMs(s.latency?.p50),
    fmtMs(s.latency?.p90),
    fmtMs(s.latency?.p99),
    fmtMs(s.latency?.p999),
    fmtMs(s.latency?.max),
    fmtMs(s.ackLatency?.p50),
    fmtMs(s.ackLatency?.p99),
    String(s.drops),
    String(s.errors),
    s.serverCores === null ? "-" : `${(s.serverCores * 100).toFixed(0)}%`,
    // The server's CPU per request answered: what a change to the hot path moves, whatever the noise in rates.
    s.serverCores === null || s.acksPerSec === 0 ? "-" : ((s.serverCores * 1e6) / s.acksPerSec).toFixed(1),
    s.otherCores === null ? "-" : `${(s.otherCores * 100).toFixed(0)}%${s.otherCores > otherCoresWarning ? "!" : ""}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  log("")
  log("latencies in ms: p50…max = send (intended send at a constant rate) → receiver push; ack = send → send_ack/group_ack")
  log(line(header))
  log(line(widths.map((w) => "-".repeat(w))))
  for (const row of rows) log(line(row))
  const firstErrors = steps.filter((s) => s.firstError !== undefined)
  for (const s of firstErrors) log(`  ${s.name}: first error ${s.firstError}`)
  const lags = steps.filter((s) => s.senderLag !== null)
  if (lags.length > 0) {
    log("sender timer lag (intended → actual write, included in the rate steps' latency):")
    for (const s of lags) log(`  ${s.name}: p50 ${fmtMs(s.senderLag!.p50)} ms, p99 ${fmtMs(s.senderLag!.p99)} ms, max ${fmtMs(s.senderLag!.max)} ms`)
  }
}

await main()
