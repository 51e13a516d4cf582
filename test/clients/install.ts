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

export default function setup(): void {
  const missing = Object.entries(pinned()).filter(([name, version]) => installedVersion(name) !== version)
  const claude = path.join(dir, "node_modules", ".bin", "claude")
  if (missing.length === 0 && fs.existsSync(claude)) return
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: dir, stdio: "inherit" })
}
