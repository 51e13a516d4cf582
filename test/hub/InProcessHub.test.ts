import { hubSuite } from "./HubSuite.ts"
import { inProcessHub } from "./HubKinds.ts"

hubSuite(inProcessHub)
