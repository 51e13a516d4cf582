import { Data } from "effect"

/** The command line was wrong: exit 2, with what to type instead. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** The command ran and failed: its message says what to do next. */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly message: string
  readonly exitCode: number
}> {}
