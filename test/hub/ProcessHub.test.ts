import { hubSuite } from "./HubSuite.ts"
import { processHub } from "./HubKinds.ts"

hubSuite(processHub)
