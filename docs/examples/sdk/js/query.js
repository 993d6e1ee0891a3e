// Run a KQL query over a workspace and print each row as JSON, using
// @azure/monitor-query-logs as against the cloud. The one setting: the
// client's endpoint is the node's endpoint followed by /v1.
//
// Usage: node query.js WORKSPACE_ID QUERY
"use strict";

const { Durations, LogsQueryClient, LogsQueryResultStatus } = require("@azure/monitor-query-logs");
const { env, run, sealwatchCredential } = require("./credential");

run(async () => {
  const [workspaceId, query] = process.argv.slice(2);
  if (!query) {
    throw new Error("usage: node query.js WORKSPACE_ID QUERY");
  }
  const client = new LogsQueryClient(sealwatchCredential(), { endpoint: `${env("SEALWATCH_ENDPOINT")}/v1` });
  const result = await client.queryWorkspace(workspaceId, query, { duration: Durations.oneDay });
  let tables = result.tables;
  if (result.status === LogsQueryResultStatus.PartialFailure) {
    // A result over the rows or bytes one answer holds comes, as from the cloud, as its
    // first rows and an error saying where it was cut.
    const { message, details } = result.partialError;
    console.error(`partial result: ${details?.[0]?.message ?? message}`);
    tables = result.partialTables;
  }
  for (const table of tables) {
    for (const row of table.rows) {
      console.log(JSON.stringify(Object.fromEntries(table.columnDescriptors.map((c, i) => [c.name, row[i]]))));
    }
  }
});
