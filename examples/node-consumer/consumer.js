// The seed's Node.js consumer, on orderstream's contracts: kafkajs reads `enriched-orders` as a
// consumer group (read_committed, so aborted enrichment transactions never show), every value
// is decoded through the registry from the Confluent wire format (magic byte, schema id, Avro),
// and prom-client serves orders_processed_total on /metrics.
//
// Settings come from the environment; the defaults match `orderstream up`.
"use strict";

const http = require("node:http");
const { Kafka, logLevel } = require("kafkajs");
const { SchemaRegistry } = require("@kafkajs/confluent-schema-registry");
const client = require("prom-client");
const { registerLz4 } = require("./lz4-codec");

registerLz4();

const config = {
  brokers: (process.env.KAFKA_BROKERS || "127.0.0.1:9092").split(","),
  registryUrl: process.env.SCHEMA_REGISTRY_URL || "http://127.0.0.1:8081",
  topic: process.env.TOPIC || "enriched-orders",
  groupId: process.env.GROUP_ID || "node-consumer",
  metricsPort: Number(process.env.METRICS_PORT || 9464),
  metricsHost: process.env.METRICS_HOST || "127.0.0.1",
  fromBeginning: (process.env.FROM_BEGINNING || "true") === "true",
  // One JSON line per decoded order on stdout, for scripts and tests.
  printOrders: process.env.PRINT_ORDERS === "1",
};

const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });
const processed = new client.Counter({
  name: "orders_processed_total",
  help: "Enriched orders decoded and processed, by enrichment status.",
  labelNames: ["status"],
  registers: [registry],
});
const failed = new client.Counter({
  name: "orders_failed_total",
  help: "Records that could not be decoded (skipped, logged with their offset).",
  registers: [registry],
});

function log(level, message, fields = {}) {
  process.stderr.write(
    JSON.stringify({ timestamp: new Date().toISOString(), level, event: message, ...fields }) + "\n",
  );
}

function serveMetrics() {
  const server = http.createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.writeHead(200, { "Content-Type": registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    if (req.url === "/health") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ ok: true, consuming: consuming }));
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(config.metricsPort, config.metricsHost, () =>
    log("info", "metrics served", { url: `http://${config.metricsHost}:${config.metricsPort}/metrics` }),
  );
  return server;
}

let consuming = false;

async function main() {
  const kafka = new Kafka({
    clientId: "orderstream-node-consumer",
    brokers: config.brokers,
    logLevel: logLevel.WARN,
  });
  const schemas = new SchemaRegistry({ host: config.registryUrl });
  const consumer = kafka.consumer({ groupId: config.groupId, readUncommitted: false });
  const server = serveMetrics();

  const shutdown = async (signal) => {
    log("info", "stopping", { signal });
    try {
      await consumer.disconnect();
    } finally {
      server.close();
      process.exit(0);
    }
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    consuming = true;
    log("info", "joined group", { group: config.groupId, assignment: e.payload.memberAssignment });
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      let order;
      try {
        order = await schemas.decode(message.value);
      } catch (err) {
        // A poison record is counted and skipped, never a crash: the offset says where it is.
        failed.inc();
        log("warning", "undecodable record skipped", {
          topic: config.topic, partition, offset: message.offset, error: String(err),
        });
        return;
      }
      processed.inc({ status: String(order.status || "unknown") });
      if (config.printOrders) {
        process.stdout.write(
          JSON.stringify({ partition, offset: message.offset, ...order }, (_k, v) =>
            typeof v === "bigint" ? v.toString() : v,
          ) + "\n",
        );
      }
    },
  });
  log("info", "consuming", { topic: config.topic, brokers: config.brokers, registry: config.registryUrl });
}

main().catch((err) => {
  log("error", "consumer failed", { error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
