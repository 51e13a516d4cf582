/** What the hub says about itself in `welcome` and `relay status`. */
import { Context, Effect, Layer } from "effect"
import packageJson from "../../package.json" with { type: "json" }
import { HubConfig } from "./HubConfig.ts"

export class HubInfo extends Context.Tag("relay/HubInfo")<
  HubInfo,
  {
    readonly hubId: string
    readonly version: string
    readonly capabilities: ReadonlyArray<string>
    readonly startedAt: number
  }
>() {}

export const layer = Layer.effect(
  HubInfo,
  Effect.map(HubConfig, (config) =>
    HubInfo.of({
      hubId: config.hubId,
      version: packageJson.version,
      capabilities: ["broadcast_replies", "rooms", "idle_exit"],
      startedAt: Date.now()
    })
  )
)
