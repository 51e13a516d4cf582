import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The real-client suites install large binaries; they run from .ci/run via their own config.
    exclude: ["test/clients/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: real processes and sockets per file; keep parallelism modest so timings stay honest.
    maxWorkers: 2,
    minWorkers: 1
  }
})
