package keyring

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// mergeEntity adds to dst every packet of src that dst lacks: key
// revocations, direct-key signatures, user IDs and their certifications and
// revocations, subkeys and their bindings and revocations. Packets are
// compared by content, and nothing of dst is removed or replaced except
// secret key material. That of src fills in where dst has none or a GnuPG
// stub. It also replaces that of dst when both are full secrets with
// different protection, and mergeEntity then reports newProtection. Without
// addSubkeys, subkeys that dst lacks are left out, so that a secret key does
// not gain subkeys it has no secret for.
func mergeEntity(dst, src *openpgp.Entity, addSubkeys bool) (newProtection bool) {
	if reprotects(dst.PrivateKey, src.PrivateKey) {
		newProtection = true
	}
	if replacesSecret(dst.PrivateKey, src.PrivateKey) || newProtection {
		dst.PrivateKey = src.PrivateKey
		dst.PrimaryKey = &src.PrivateKey.PublicKey
	}
	dst.Revocations = appendMissing(dst.Revocations, src.Revocations)
	dst.DirectSignatures = appendMissing(dst.DirectSignatures, src.DirectSignatures)

	for name, srcIdentity := range src.Identities {
		dstIdentity, ok := dst.Identities[name]
		if !ok {
			dstIdentity = &openpgp.Identity{Primary: dst, Name: name, UserId: srcIdentity.UserId}
			dst.Identities[name] = dstIdentity
		}
		dstIdentity.SelfCertifications = appendMissing(dstIdentity.SelfCertifications, srcIdentity.SelfCertifications)
		dstIdentity.OtherCertifications = appendMissing(dstIdentity.OtherCertifications, srcIdentity.OtherCertifications)
		dstIdentity.Revocations = appendMissing(dstIdentity.Revocations, srcIdentity.Revocations)
	}

	for _, srcSubkey := range src.Subkeys {
		i := subkeyIndex(dst, srcSubkey.PublicKey.Fingerprint)
		if i < 0 {
			if !addSubkeys {
				continue
			}
			dst.Subkeys = append(dst.Subkeys, openpgp.Subkey{
				Primary:    dst,
				PublicKey:  srcSubkey.PublicKey,
				PrivateKey: srcSubkey.PrivateKey,
			})
			i = len(dst.Subkeys) - 1
		}
		dstSubkey := &dst.Subkeys[i]
		subkeyReprotected := reprotects(dstSubkey.PrivateKey, srcSubkey.PrivateKey)
		newProtection = newProtection || subkeyReprotected
		if replacesSecret(dstSubkey.PrivateKey, srcSubkey.PrivateKey) || subkeyReprotected {
			dstSubkey.PrivateKey = srcSubkey.PrivateKey
			dstSubkey.PublicKey = &srcSubkey.PrivateKey.PublicKey
		}
		dstSubkey.Bindings = appendMissing(dstSubkey.Bindings, srcSubkey.Bindings)
		dstSubkey.Revocations = appendMissing(dstSubkey.Revocations, srcSubkey.Revocations)
	}
	return newProtection
}

// reprotects reports whether the secret key src should replace dst, a copy
// of the same public key, because its protection differs. Both must contain
// key material (neither is a GnuPG stub), src must be protected when dst
// is, and their packets must differ. The newer import wins, as after
// "gpg --passwd". A new export from GnuPG under the same passphrase differs
// too, because GnuPG protects each export with a fresh salt.
// NOTE: the encrypted secret of src is not checked against its public key,
// because that needs the passphrase.
func reprotects(dst, src *packet.PrivateKey) bool {
	if dst == nil || src == nil || dst.Dummy() || src.Dummy() {
		return false
	}
	// An unprotected copy, such as an old backup, never removes the
	// passphrase of the stored key.
	if dst.Encrypted && !src.Encrypted {
		return false
	}
	var dstPacket, srcPacket bytes.Buffer
	if dst.Serialize(&dstPacket) != nil || src.Serialize(&srcPacket) != nil {
		return false
	}
	return !bytes.Equal(dstPacket.Bytes(), srcPacket.Bytes())
}

// subkeyIndex returns the index of the subkey of e with fingerprint fpr, or -1.
func subkeyIndex(e *openpgp.Entity, fpr []byte) int {
	for i, subkey := range e.Subkeys {
		if bytes.Equal(subkey.PublicKey.Fingerprint, fpr) {
			return i
		}
	}
	return -1
}

// appendMissing appends to dst the signatures of src whose encoding is not in
// dst yet. Each appended signature is wrapped anew, so that its validity is
// checked again in its new place.
func appendMissing(dst, src []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	seen := make(map[string]bool, len(dst))
	for _, sig := range dst {
		seen[signatureEncoding(sig.Packet)] = true
	}
	for _, sig := range src {
		encoding := signatureEncoding(sig.Packet)
		if seen[encoding] {
			continue
		}
		seen[encoding] = true
		dst = append(dst, packet.NewVerifiableSig(sig.Packet))
	}
	return dst
}

// signatureEncoding returns the serialized signature packet, the identity of
// a signature for merging.
func signatureEncoding(sig *packet.Signature) string {
	var buf bytes.Buffer
	if err := sig.Serialize(&buf); err != nil {
		// Parsed signatures always serialize; a failure leaves the
		// signature distinct from every other, so it is kept.
		return fmt.Sprintf("\x00unserializable %p", sig)
	}
	return buf.String()
}

// serializeEntity writes e as a transferable public key (a certificate), or
// with secret set as a transferable secret key, in the packet order of RFC
// 9580 section 10.1. Unlike Entity.SerializePrivate, it never re-signs
// anything, and it writes user IDs in a stable order.
func serializeEntity(w io.Writer, e *openpgp.Entity, secret bool) error {
	if secret {
		if err := e.PrivateKey.Serialize(w); err != nil {
			return err
		}
	} else if err := e.PrimaryKey.Serialize(w); err != nil {
		return err
	}

	for _, sig := range e.Revocations {
		if err := sig.Packet.Serialize(w); err != nil {
			return err
		}
	}
	for _, sig := range e.DirectSignatures {
		if err := sig.Packet.Serialize(w); err != nil {
			return err
		}
	}

	names := make([]string, 0, len(e.Identities))
	for name := range e.Identities {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := e.Identities[name].Serialize(w); err != nil {
			return err
		}
	}

	for i := range e.Subkeys {
		subkey := &e.Subkeys[i]
		if err := subkey.Serialize(w, secret && subkey.PrivateKey != nil); err != nil {
			return err
		}
	}
	return nil
}

// encodeEntity returns e serialized by serializeEntity.
func encodeEntity(e *openpgp.Entity, secret bool) ([]byte, error) {
	var buf bytes.Buffer
	if err := serializeEntity(&buf, e, secret); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
