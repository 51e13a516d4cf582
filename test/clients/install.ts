/**
 * Global setup of the real-client suite: installs the pinned client binaries into
 * test/clients/node_modules from test/clients/package-lock.json when they are missing or differ
 * from the pin, so a plain `npm install` of the project never downloads them.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const dir = path.dirname(new URL(import.meta.url).pathname)

const pinned = (): Record<string, string> => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).dependencies

const installedVersion = (name: string): string | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"), "utf8")).version
  } catch {
    return undefined
  }
}

/** Every client's launcher: a pin can be present while its platform binary is not. */
const binaries = ["claude", "opencode", "copilot"]

export default function setup(): void {
  const missing = Object.entries(pinned()).filter(([name, version]) => installedVersion(name) !== version)
  const launchers = binaries.every((bin) => fs.existsSync(path.join(dir, "node_modules", ".bin", bin)))
  if (missing.length === 0 && launchers) return
  // Not `npm ci`: the lockfile lacks the platform packages of opencode-ai that the registry here
  // does not serve (darwin, musl, windows), which `npm ci` refuses as "out of sync". `npm install`
  // still installs exactly the locked versions and integrity hashes, and `--no-save` leaves the
  // lockfile as committed.
  execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund"], { cwd: dir, stdio: "inherit" })
}
