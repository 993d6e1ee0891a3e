// Send the rows of a JSON file to a stream of a data collection rule, using
// @azure/monitor-ingestion as against the cloud: the node's endpoint is the
// data collection endpoint.
//
// Usage: node ingest.js DCR_IMMUTABLE_ID STREAM FILE
"use strict";

const { readFileSync } = require("node:fs");
const { isAggregateLogsUploadError, LogsIngestionClient } = require("@azure/monitor-ingestion");
const { env, run, sealwatchCredential } = require("./credential");

run(async () => {
  const [ruleId, stream, file] = process.argv.slice(2);
  if (!file) {
    throw new Error("usage: node ingest.js DCR_IMMUTABLE_ID STREAM FILE");
  }
  const rows = JSON.parse(readFileSync(file, "utf8"));
  const client = new LogsIngestionClient(env("SEALWATCH_ENDPOINT"), sealwatchCredential());
  // upload splits the rows into batches of at most 1 MB and sends them
  // gzipped; a batch the node refuses is in the error's list, with its cause.
  try {
    await client.upload(ruleId, stream, rows);
  } catch (err) {
    if (isAggregateLogsUploadError(err)) {
      const causes = new Set(err.errors.map((e) => e.cause.message));
      throw new Error(`${err.errors.length} batches refused: ${[...causes].join("; ")}`);
    }
    throw err;
  }
  console.log(`sent ${rows.length} rows to stream ${stream} of rule ${ruleId}`);
});
