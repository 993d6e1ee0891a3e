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
  if (result.status !== LogsQueryResultStatus.Success) {
    throw new Error(`query partly failed: ${result.partialError.message}`);
  }
  for (const table of result.tables) {
    for (const row of table.rows) {
      console.log(JSON.stringify(Object.fromEntries(table.columnDescriptors.map((c, i) => [c.name, row[i]]))));
    }
  }
});
