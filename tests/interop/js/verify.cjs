// Verifies Sigstore bundles with sigstore-js (@sigstore/verify), independently of atlas-intoto.
//
// usage: node verify.cjs TRUSTED_ROOT.json KEYS.json BUNDLE.json...
//   KEYS.json: {"<public key hint>": "<PEM public key>", ...} (the functionaries' keys)
// Prints one JSON line per bundle: {"bundle": PATH, "ok": true} or {"bundle", "ok": false,
// "error": "<code>: <message>"}; exits 0 when every bundle verified, 1 otherwise.
'use strict';

const { readFileSync } = require('node:fs');
const { createPublicKey } = require('node:crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [rootPath, keysPath, ...bundles] = process.argv.slice(2);
const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootPath, 'utf8')));
const pems = JSON.parse(readFileSync(keysPath, 'utf8'));

function findKey(hint) {
  if (!(hint in pems)) {
    throw new Error(`no public key for hint ${hint}`);
  }
  return { publicKey: createPublicKey(pems[hint]), validFor: () => true };
}

// No certificate authority and no CT log: the signers are identified by their public keys.
const verifier = new Verifier(toTrustMaterial(root, findKey), {
  tlogThreshold: 1,
  ctlogThreshold: 0,
  timestampThreshold: 1,
});

let failed = 0;
for (const path of bundles) {
  try {
    const bundle = bundleFromJSON(JSON.parse(readFileSync(path, 'utf8')));
    verifier.verify(toSignedEntity(bundle));
    console.log(JSON.stringify({ bundle: path, ok: true }));
  } catch (err) {
    failed += 1;
    const code = err.code ? `${err.code}: ` : '';
    console.log(JSON.stringify({ bundle: path, ok: false, error: `${code}${err.message}` }));
  }
}
process.exit(failed ? 1 : 0);
