// The IPFS Pinning Service API's mock server (npm mock-ipfs-pinning-service, from the IPFS project),
// listening on 127.0.0.1 only: its own CLI listens on every interface. It answers the API as the
// spec says (requests validated against the spec's OpenAPI document) and keeps pins in memory, but
// fetches and replicates nothing: a pin's status stays "queued" unless its name starts with
// "pinned-", "pinning-", "failed-" or "queued-".
// Usage: node pinning_service.js PORT TOKEN   (prints "Pinning service ready on PORT" when it listens)
"use strict"
const http = require("http")
const { setup } = require("mock-ipfs-pinning-service")

const [port, token] = process.argv.slice(2)
setup({ token: token || null, loglevel: "error" }).then((app) => {
  const server = http.createServer(app)
  server.listen(Number(port), "127.0.0.1", () => console.log(`Pinning service ready on ${port}`))
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)))
})
