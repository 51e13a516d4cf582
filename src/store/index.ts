export * from "./Store.ts"
export { defaults, layerMemory, layerSqlite, makeSqlite, type SqliteStoreOptions } from "./SqliteStore.ts"
export { openSqlite, type SqliteConnection, type SqliteDriverName } from "./SqliteDriver.ts"
