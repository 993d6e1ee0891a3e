// How the console names a cluster's key, its versions, and the command that
// disables a version, whichever key service holds it: a Key Vault (the
// node's own or another), AWS KMS, or a PKCS#11 token — as the CLI's
// cluster show and key-usage print them.

// keyText names the key kv (a cluster's keyVaultProperties) in force.
export function keyText(kv) {
  switch (kv.keySource) {
    case 'aws-kms':
      return `AWS KMS key ${kv.kmsKeyArn} in ${kv.awsRegion}`;
    case 'pkcs11':
      return `PKCS#11 key ${kv.pkcs11KeyLabel} on token ${kv.pkcs11TokenLabel} (the highest ID in force)`;
  }
  return `${kv.keyName} in ${kv.keyVaultUri}${kv.keyVersion ? `, version ${kv.keyVersion}` : ', following its latest version'}`;
}

// isKeyVault says whether kv names a Key Vault key (the default source).
export const isKeyVault = (kv) => !kv.keySource || kv.keySource === 'keyvault';

const kmsARN = /^arn:[^:]+:kms:([^:]+):[^:]*:key\/(.+)$/;

// pkcs11Parts reads the token, label and CKA_ID (hex) of a PKCS#11 key
// object's URI, pkcs11:token=T;object=L;type=secret-key;id=%01.
function pkcs11Parts(uri) {
  if (!uri.startsWith('pkcs11:')) return null;
  const attrs = Object.fromEntries(uri.slice('pkcs11:'.length).split(';').map((a) => {
    const i = a.indexOf('=');
    return i < 0 ? [a, ''] : [a.slice(0, i), a.slice(i + 1)];
  }));
  const text = (v) => { try { return decodeURIComponent(v); } catch { return v; } };
  // The ID is bytes, percent-encoded where not printable: hex them one by one.
  let id = '';
  const raw = attrs.id || '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%') {
      id += raw.slice(i + 1, i + 3).toLowerCase();
      i += 2;
    } else {
      id += raw.charCodeAt(i).toString(16).padStart(2, '0');
    }
  }
  if (!attrs.token || !attrs.object || !id) return null;
  return { token: text(attrs.token), label: text(attrs.object), id };
}

// versionText is the short name of the key version uri: a Key Vault
// version ID, an AWS KMS key ID, or a PKCS#11 object's CKA_ID.
export function versionText(uri) {
  const arn = kmsARN.exec(uri);
  if (arn) return arn[2];
  const p11 = pkcs11Parts(uri);
  if (p11) return `ID ${p11.id}`;
  return uri.replace(/\/+$/, '').split('/').pop();
}

// shellWord quotes s for a POSIX shell when it needs it.
function shellWord(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

// disableCommand is the command that disables the key version uri, as
// key-usage prints it; kv, the key in force, gives a PKCS#11 token's module.
export function disableCommand(uri, kv) {
  const arn = kmsARN.exec(uri);
  if (arn) return `aws kms disable-key --key-id ${uri} --region ${arn[1]}`;
  const p11 = pkcs11Parts(uri);
  if (p11) {
    const module = kv?.keySource === 'pkcs11' && kv.pkcs11TokenLabel === p11.token ? kv.pkcs11ModulePath : 'MODULE';
    return `sealwatch pkcs11 key disable --module ${shellWord(module)} --token ${shellWord(p11.token)} --key-label ${shellWord(p11.label)} --id ${p11.id}`;
  }
  let u;
  try { u = new URL(uri); } catch { return ''; }
  const [, name, version] = /\/keys\/([^/]+)\/([^/]+)$/.exec(u.pathname) || [];
  if (!version) return '';
  return `sealwatch keyvault key set-attributes --vault-name ${u.hostname.split('.')[0]} --name ${name} --version ${version} --enabled=false`;
}
