/**
 * What every WebSocket acceptor checks before a client may speak the protocol: a loopback `Origin`
 * (or none: non-browser clients send none), then a first frame `{"auth":"<token>"}` within the auth
 * timeout. Tokens are compared in constant time; failures close with 4003.
 */
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Limits } from "../protocol/Limits.ts"

export const CloseCodes = { authFailed: 4003, tooSlow: 1008, tooBig: 1009, stopping: 1001 } as const

export const tokenFilePath = (dataDir: string) => path.join(dataDir, "ws.token")

/**
 * The configured token, else the one in `<dataDir>/ws.token`, created (0600) on first start. An
 * empty file (a crash between creating and writing it) gets a fresh token: the endpoint listens on
 * loopback TCP, which every local user can reach, so the empty string must never be the password.
 */
export const loadOrCreateToken = (dataDir: string, configured: string | undefined) =>
  Effect.sync(() => {
    if (configured !== undefined) return configured
    const file = tokenFilePath(dataDir)
    const fresh = () => crypto.randomBytes(32).toString("hex") + "\n"
    try {
      fs.writeFileSync(file, fresh(), { mode: 0o600, flag: "wx" })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    // `mode` only applies to a new file; one left behind readable by others is made private.
    fs.chmodSync(file, 0o600)
    const token = fs.readFileSync(file, "utf8").trim()
    if (token !== "") return token
    fs.writeFileSync(file, fresh(), { mode: 0o600 })
    return fs.readFileSync(file, "utf8").trim()
  })

const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]", "::1"])

/** No `Origin` (a CLI or plugin) or a loopback page; anything else is a foreign web page. */
export const isAllowedOrigin = (origin: string | null | undefined): boolean => {
  if (origin === null || origin === undefined || origin === "") return true
  try {
    const url = new URL(origin)
    return (url.protocol === "http:" || url.protocol === "https:") && loopbackHosts.has(url.hostname)
  } catch {
    return false
  }
}

const digest = (value: string) => crypto.createHash("sha256").update(value, "utf8").digest()

/** Hashing first makes the comparison constant-time whatever the lengths. */
export const checkAuthFrame = (frame: string, token: string): boolean => {
  if (frame.length > Limits.maxAuthFrameChars) return false
  let given: unknown
  try {
    given = JSON.parse(frame)
  } catch {
    return false
  }
  if (typeof given !== "object" || given === null || typeof (given as { auth?: unknown }).auth !== "string") return false
  return crypto.timingSafeEqual(digest((given as { auth: string }).auth), digest(token))
}

/**
 * Logs refused auth at most once a second with a count, so a wrong-token storm costs a bounded
 * amount of log and CPU.
 */
export const makeAuthFailureLog = () => {
  let refused = 0
  let lastLogged = 0
  return (reason: string) => {
    refused++
    const now = Date.now()
    if (now - lastLogged < 1000) return Effect.void
    lastLogged = now
    const count = refused
    refused = 0
    return Effect.logWarning("refused WebSocket clients", { reason, count })
  }
}
