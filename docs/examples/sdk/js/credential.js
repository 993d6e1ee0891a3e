// The credential every example signs in with: the application's client ID and
// secret, from the environment variables the cloud's SDKs already use.
//
// The one setting @azure/identity needs for a Sealwatch node is its own
// authority host (the node's endpoint) with instance discovery turned off:
// discovery asks the cloud's authority about the host, which a node on your
// machine is not, and without this the first token request fails.
"use strict";

const { ClientSecretCredential } = require("@azure/identity");

// env returns the environment variable name, or stops with a message saying
// which one to set.
function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name} (see docs/sdk.md, "JavaScript")`);
  }
  return value;
}

function sealwatchCredential() {
  return new ClientSecretCredential(env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET"), {
    authorityHost: env("SEALWATCH_ENDPOINT"),
    disableInstanceDiscovery: true,
  });
}

// run runs an example's main and turns a failure into a message and exit code 1.
function run(main) {
  main().catch((err) => {
    console.error(`error: ${err.message}${hint(err)}`);
    process.exitCode = 1;
  });
}

// hint says what to do about the two failures a first run meets.
function hint(err) {
  // @azure/identity reports any failure to read the authority's metadata
  // this way, an untrusted certificate included, without the cause.
  if (String(err.message).startsWith("endpoints_resolution_error")) {
    return `; check that a node serves ${env("SEALWATCH_ENDPOINT")} and that NODE_EXTRA_CA_CERTS names its CA file (sealwatch-data/tls/ca.pem)`;
  }
  // A vault's host (cmk1.vault.localhost) needs a hosts entry where the
  // system resolver does not send *.localhost to the loopback address itself
  // (docs/sdk.md, "Vault host names from Node.js").
  if (err.code === "ENOTFOUND" && err.request) {
    const host = new URL(err.request.url).hostname;
    const address = new URL(env("SEALWATCH_ENDPOINT")).hostname;
    return `; add the line "${address} ${host}" to /etc/hosts (sealwatch keyvault hosts | sudo tee -a /etc/hosts adds one for each vault)`;
  }
  return "";
}

module.exports = { env, run, sealwatchCredential };
