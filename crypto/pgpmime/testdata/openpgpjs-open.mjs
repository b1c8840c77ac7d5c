// Decrypts and verifies an armored OpenPGP message with OpenPGP.js, for the
// interoperability test of package pgpmime.
//
// Usage: node openpgpjs-open.mjs OPENPGP_DIR MESSAGE_FILE SECRET_KEY_FILE SIGNER_KEY_FILE
//
// OPENPGP_DIR is the folder of the npm package openpgp. The script prints one
// JSON object: the plaintext in base64, whether the signature verified, and
// the key ID of the signing key. It exits with status 1 on any failure.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, messageFile, secretKeyFile, signerKeyFile] = process.argv.slice(2);
const openpgp = await import(pathToFileURL(join(moduleDir, 'dist', 'node', 'openpgp.mjs')).href);

try {
  const message = await openpgp.readMessage({ armoredMessage: await readFile(messageFile, 'utf8') });
  const decryptionKeys = await openpgp.readPrivateKey({ armoredKey: await readFile(secretKeyFile, 'utf8') });
  const verificationKeys = await openpgp.readKey({ armoredKey: await readFile(signerKeyFile, 'utf8') });

  const { data, signatures } = await openpgp.decrypt({
    message,
    decryptionKeys,
    verificationKeys,
    expectSigned: true,
    format: 'binary',
  });

  // expectSigned makes decrypt throw unless a signature verified; checking
  // verified again keeps the output honest if that option changes.
  const verified = signatures.length > 0 && (await signatures[0].verified);
  console.log(JSON.stringify({
    data: Buffer.from(data).toString('base64'),
    verified,
    keyID: signatures.length > 0 ? signatures[0].keyID.toHex() : '',
  }));
} catch (err) {
  console.error(`openpgpjs-open: ${err.message}`);
  process.exit(1);
}
