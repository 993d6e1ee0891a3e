// The key example's wrap and unwrap without a hosts entry: the client's HTTPS
// agent looks every *.vault.localhost name up as the node's own address, as
// the sealwatch command does. TLS still checks the name the URL asked for.
//
// Usage: VAULT_URL=https://cmk1.vault.localhost:8443 node keys-at-node.js KEY_NAME
// KEY_NAME is a key that exists: run keys.js with it first.
"use strict";

const { lookup } = require("node:dns");
const { randomBytes } = require("node:crypto");
const { Agent } = require("node:https");
const { CryptographyClient, KeyClient } = require("@azure/keyvault-keys");
const { env, run, sealwatchCredential } = require("./credential");

run(async () => {
  const name = process.argv[2];
  if (!name) {
    throw new Error("usage: node keys-at-node.js KEY_NAME");
  }
  const node = new URL(env("SEALWATCH_ENDPOINT")).hostname;
  const agent = new Agent({
    keepAlive: true,
    lookup: (host, options, callback) => lookup(host.endsWith(".vault.localhost") ? node : host, options, callback),
  });
  const credential = sealwatchCredential();
  // This example reads a key; keys.js creates one.
  const key = await new KeyClient(env("VAULT_URL"), credential, { agent }).getKey(name).catch((err) => {
    throw err.statusCode === 404 ? new Error(`${err.message}; create the key first: node keys.js ${name}`) : err;
  });
  const crypto = new CryptographyClient(key.id, credential, { agent });
  const dek = randomBytes(32);
  const wrapped = await crypto.wrapKey("RSA-OAEP-256", dek);
  const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
  if (!Buffer.from(unwrapped.result).equals(dek)) {
    throw new Error("the unwrapped key differs from the one wrapped");
  }
  console.log(`wrapped a ${dek.length}-byte key into ${wrapped.result.length} bytes with ${wrapped.keyID} and unwrapped it again, with no hosts entry`);
});
