/**
 * The real-client suite: runs the pinned harness binaries from test/clients/node_modules (installed
 * on first use by the global setup, or by .ci/run). Not part of `npm test`: each run starts real
 * Claude Code processes and takes a minute or more.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

export default defineConfig({
  root,
  test: {
    include: ["test/clients/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    globalSetup: ["test/clients/install.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // One real client at a time: they are heavy and the machine has two cores.
    fileParallelism: false,
    maxWorkers: 1,
    minWorkers: 1
  }
})
