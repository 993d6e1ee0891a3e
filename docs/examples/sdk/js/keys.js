// Create an RSA key in a Sealwatch vault, read it back, and wrap and unwrap a
// data-encryption key with it, using @azure/keyvault-keys as against the cloud.
//
// Usage: VAULT_URL=https://cmk1.vault.localhost:8443 node keys.js KEY_NAME
"use strict";

const { randomBytes } = require("node:crypto");
const { CryptographyClient, KeyClient } = require("@azure/keyvault-keys");
const { env, run, sealwatchCredential } = require("./credential");

run(async () => {
  const name = process.argv[2];
  if (!name) {
    throw new Error("usage: node keys.js KEY_NAME");
  }
  const credential = sealwatchCredential();
  const keys = new KeyClient(env("VAULT_URL"), credential);

  const created = await keys.createRsaKey(name, { keySize: 3072, keyOps: ["wrapKey", "unwrapKey"] });
  console.log(`created ${created.id}`);
  const key = await keys.getKey(name);
  console.log(`got ${key.id}: ${key.keyType}, ${key.key.n.length * 8} bits, operations ${key.keyOperations.join(" ")}`);

  // A client for the key's ID asks the vault to wrap and unwrap: the private
  // key never leaves it.
  const crypto = new CryptographyClient(key.id, credential);
  const dek = randomBytes(32);
  const wrapped = await crypto.wrapKey("RSA-OAEP-256", dek);
  const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
  if (!Buffer.from(unwrapped.result).equals(dek)) {
    throw new Error("the unwrapped key differs from the one wrapped");
  }
  console.log(`wrapped a ${dek.length}-byte key into ${wrapped.result.length} bytes with ${wrapped.keyID} and unwrapped it again`);
});
