// Print an access token for one of the node's APIs, for a call by hand:
//
//   curl --cacert sealwatch-data/tls/ca.pem -H "Authorization: Bearer $(node token.js https://management.azure.com/.default)" …
//
// Usage: node token.js SCOPE
"use strict";

const { run, sealwatchCredential } = require("./credential");

run(async () => {
  const scope = process.argv[2];
  if (!scope) {
    throw new Error("usage: node token.js SCOPE (such as https://management.azure.com/.default)");
  }
  const token = await sealwatchCredential().getToken(scope);
  console.log(token.token);
});
