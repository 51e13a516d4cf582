import { Duration, Either, Option } from "effect"

/**
 * Durations as people type them, on the command line and in the environment: `500ms`, `10s`,
 * `2m`, `1h`, a bare number of seconds, or Effect's own form (`500 millis`).
 */
export const parseDuration = (input: string): Either.Either<Duration.Duration, string> => {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(input.trim())
  if (match === null) {
    return Either.fromOption(
      Duration.decodeUnknown(input.trim()).pipe(Option.filter((d) => Duration.isFinite(d))),
      () => `'${input}' is not a duration; write it like 500ms, 10s, 2m or 1h`
    )
  }
  const value = Number(match[1])
  switch (match[2] ?? "s") {
    case "ms":
      return Either.right(Duration.millis(value))
    case "m":
      return Either.right(Duration.minutes(value))
    case "h":
      return Either.right(Duration.hours(value))
    default:
      return Either.right(Duration.seconds(value))
  }
}
