// Checks a v6 key made by "sealmail keyring generate --v6" with OpenPGP.js:
// it reads the exported certificate, encrypts to it, unlocks the stored
// secret key with the passphrase and decrypts the message again.
//
// Usage: node openpgpjs-v6-key.mjs OPENPGP_DIR CERT_FILE SECRET_KEY_FILE PASSPHRASE_FILE
//
// CERT_FILE is armored, SECRET_KEY_FILE binary. The script prints one JSON
// object with the key version and the decrypted text, and exits with status
// 1 on any failure.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, certFile, secretKeyFile, passphraseFile] = process.argv.slice(2);
const openpgp = await import(pathToFileURL(join(moduleDir, 'dist', 'node', 'openpgp.mjs')).href);

try {
  const cert = await openpgp.readKey({ armoredKey: await readFile(certFile, 'utf8') });
  const locked = await openpgp.readPrivateKey({ binaryKey: await readFile(secretKeyFile) });
  const passphrase = (await readFile(passphraseFile, 'utf8')).split('\n')[0];
  const secret = await openpgp.decryptKey({ privateKey: locked, passphrase });

  const encrypted = await openpgp.encrypt({
    message: await openpgp.createMessage({ text: 'v6 round trip' }),
    encryptionKeys: cert,
  });
  const { data } = await openpgp.decrypt({
    message: await openpgp.readMessage({ armoredMessage: encrypted }),
    decryptionKeys: secret,
  });
  console.log(JSON.stringify({ version: cert.keyPacket.version, data }));
} catch (err) {
  console.error(err);
  process.exit(1);
}
