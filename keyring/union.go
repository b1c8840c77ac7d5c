package keyring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// The stored form of a key is the packet-level union of what was stored and
// what was imported. The OpenPGP library merges what it parses, but its
// parse leaves out user attributes (photo IDs), signatures it cannot read,
// user IDs without a self-signature and the signatures of the first of two
// equal user ID packets. Those packets are put back here, in the place RFC
// 9580 section 10.1 gives them, so that a write never drops what another
// cert-d tool stored.

// Packet tags of RFC 9580 section 5.
const (
	tagSignature     = 2
	tagSecretKey     = 5
	tagPublicKey     = 6
	tagSecretSubkey  = 7
	tagMarker        = 10
	tagTrust         = 12
	tagUserID        = 13
	tagPublicSubkey  = 14
	tagUserAttribute = 17
	tagPadding       = 21
)

// rawPacket is one OpenPGP packet as its tag and body, so that packets
// compare equal whatever header format wrote them.
type rawPacket struct {
	tag      uint8
	contents []byte
}

// identity returns the tag and body of p as one string, for comparing.
func (p rawPacket) identity() string {
	return string([]byte{p.tag}) + string(p.contents)
}

// component is a primary key, user ID, user attribute or subkey packet with
// the packets that follow it up to the next component: its signatures.
type component struct {
	// id matches the same component in another copy of the key: the
	// fingerprint for a key packet, so that the public and secret forms
	// of a key match, and the packet itself otherwise.
	id      string
	packets []rawPacket
}

// tag returns the tag of the component packet.
func (c *component) tag() uint8 {
	return c.packets[0].tag
}

// isUserComponent reports whether c is a user ID or user attribute.
func (c *component) isUserComponent() bool {
	return c.tag() == tagUserID || c.tag() == tagUserAttribute
}

// splitComponents splits the binary transferable key data into its
// components, the primary key first. Trust, marker and padding packets are
// left out: trust packets are local to GnuPG (RFC 9580 section 5.10) and the
// others carry nothing. A second primary key ends the key.
func splitComponents(data []byte) ([]component, error) {
	r := packet.NewOpaqueReader(bytes.NewReader(data))
	var components []component
	for {
		op, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("failed to split key into packets: %w", err)
		}
		p := rawPacket{tag: op.Tag, contents: op.Contents}

		switch op.Tag {
		case tagTrust, tagMarker, tagPadding:
			continue
		case tagPublicKey, tagSecretKey:
			if len(components) > 0 {
				return components, nil
			}
			components = append(components, component{id: keyComponentID(op), packets: []rawPacket{p}})
			continue
		case tagPublicSubkey, tagSecretSubkey:
			components = append(components, component{id: keyComponentID(op), packets: []rawPacket{p}})
			continue
		case tagUserID, tagUserAttribute:
			components = append(components, component{id: p.identity(), packets: []rawPacket{p}})
			continue
		}
		if len(components) == 0 {
			return nil, fmt.Errorf("a packet of type %d comes before the primary key", op.Tag)
		}
		last := &components[len(components)-1]
		last.packets = append(last.packets, p)
	}
	if len(components) == 0 {
		return nil, errors.New("the key data has no primary key")
	}
	return components, nil
}

// keyComponentID returns the id of a key or subkey packet: its fingerprint,
// or the packet itself when it cannot be parsed.
func keyComponentID(op *packet.OpaquePacket) string {
	p, err := op.Parse()
	if err == nil {
		switch key := p.(type) {
		case *packet.PublicKey:
			return "key " + hexFingerprint(key.Fingerprint)
		case *packet.PrivateKey:
			return "key " + hexFingerprint(key.Fingerprint)
		}
	}
	return rawPacket{tag: op.Tag, contents: op.Contents}.identity()
}

// packetSource is a copy of a key whose packets unionPackets adds.
type packetSource struct {
	components []component
	// trusted is set for the stored file, whose packets are all kept. An
	// imported key adds only signatures to components that the result
	// has, and user attributes with a valid self-signature, because the
	// OpenPGP library has already dropped its unbound user IDs and subkeys.
	trusted bool
}

// unionPackets returns base, the key that the OpenPGP library wrote, with
// every packet of the sources that base lacks, each in its place. A
// signature goes after the component it follows in the source. A user ID or
// user attribute goes with its signatures after the last user ID or
// attribute, and a subkey with its signatures goes at the end. With secret
// unset, secret key packets are never added. primary is the primary key,
// which checks the self-signatures of imported user attributes.
func unionPackets(base []component, primary *packet.PublicKey, secret bool, sources ...packetSource) []component {
	for _, source := range sources {
		if len(source.components) == 0 || source.components[0].id != base[0].id {
			continue
		}
		for _, extra := range source.components {
			if i := componentIndex(base, extra.id); i >= 0 {
				base[i].packets = addMissingPackets(base[i].packets, extra.packets[1:], source.trusted)
				continue
			}
			if !secret && (extra.tag() == tagSecretKey || extra.tag() == tagSecretSubkey) {
				continue
			}
			if !source.trusted && !(extra.tag() == tagUserAttribute && hasAttributeSelfSignature(extra, primary)) {
				continue
			}
			base = insertComponent(base, extra)
		}
	}
	return base
}

// componentIndex returns the index of the component with the given id, or -1.
func componentIndex(components []component, id string) int {
	for i := range components {
		if components[i].id == id {
			return i
		}
	}
	return -1
}

// addMissingPackets appends to have the packets of extra that it lacks.
// Unless all is set, only signature packets are added.
func addMissingPackets(have, extra []rawPacket, all bool) []rawPacket {
	seen := make(map[string]bool, len(have))
	for _, p := range have {
		seen[p.identity()] = true
	}
	for _, p := range extra {
		if !all && p.tag != tagSignature || seen[p.identity()] {
			continue
		}
		seen[p.identity()] = true
		have = append(have, p)
	}
	return have
}

// insertComponent adds c to components: a subkey at the end, a user ID or
// user attribute after the last one of those, or after the primary key.
func insertComponent(components []component, c component) []component {
	if !c.isUserComponent() {
		return append(components, c)
	}
	at := 1
	for i := range components {
		if components[i].isUserComponent() {
			at = i + 1
		}
	}
	components = append(components, component{})
	copy(components[at+1:], components[at:])
	components[at] = c
	return components
}

// hasAttributeSelfSignature reports whether a certification of the user
// attribute component c by primary is valid.
func hasAttributeSelfSignature(c component, primary *packet.PublicKey) bool {
	for _, p := range c.packets[1:] {
		if p.tag != tagSignature {
			continue
		}
		parsed, err := (&packet.OpaquePacket{Tag: p.tag, Contents: p.contents}).Parse()
		if err != nil {
			continue
		}
		sig, ok := parsed.(*packet.Signature)
		if !ok || !isCertification(sig.SigType) || !sig.CheckKeyIdOrFingerprint(primary) {
			continue
		}
		if verifyAttributeSignature(primary, c.packets[0].contents, sig) == nil {
			return true
		}
	}
	return false
}

// isCertification reports whether t is one of the four certification
// signature types of a user ID or attribute.
func isCertification(t packet.SignatureType) bool {
	switch t {
	case packet.SigTypeGenericCert, packet.SigTypePersonaCert, packet.SigTypeCasualCert, packet.SigTypePositiveCert:
		return true
	}
	return false
}

// verifyAttributeSignature checks sig, by primary, over primary and the
// user attribute body attribute. The hashed data is that of a user ID
// certification, with the octet 0xD1 and a four-octet length before the
// attribute (RFC 9580 section 5.2.4). The OpenPGP library has no function
// for it.
func verifyAttributeSignature(primary *packet.PublicKey, attribute []byte, sig *packet.Signature) error {
	h, err := sig.PrepareVerify()
	if err != nil {
		return err
	}
	if err := primary.SerializeForHash(h); err != nil {
		return err
	}
	var header [5]byte
	header[0] = 0xd1
	binary.BigEndian.PutUint32(header[1:], uint32(len(attribute)))
	h.Write(header[:])
	h.Write(attribute)
	return primary.VerifySignature(h, sig)
}

// joinComponents writes components as binary key data, every packet with a
// new-format header.
func joinComponents(components []component) ([]byte, error) {
	var buf bytes.Buffer
	for _, c := range components {
		for _, p := range c.packets {
			op := packet.OpaquePacket{Tag: p.tag, Contents: p.contents}
			if err := op.Serialize(&buf); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

// samePackets reports whether a and b contain the same set of packets, in
// whatever order.
func samePackets(a, b []component) bool {
	set := func(components []component) map[string]bool {
		s := make(map[string]bool)
		for _, c := range components {
			for _, p := range c.packets {
				s[p.identity()] = true
			}
		}
		return s
	}
	sa, sb := set(a), set(b)
	if len(sa) != len(sb) {
		return false
	}
	for p := range sa {
		if !sb[p] {
			return false
		}
	}
	return true
}

// keyUnion returns the bytes to store for a key and whether they differ
// from stored. The bytes are encoded, the key as the OpenPGP library wrote
// it after merging, with the packets that it lacks from stored (nil when
// there is nothing to merge) and from the imported copies of the key.
// primary checks imported user attributes, and secret is set for the secret
// folder.
func keyUnion(encoded, stored []byte, imported [][]byte, primary *packet.PublicKey, secret bool) (data []byte, changed bool, err error) {
	base, err := splitComponents(encoded)
	if err != nil {
		return nil, false, err
	}

	var sources []packetSource
	var storedComponents []component
	if stored != nil {
		// The stored file was parsed as this key before, so a failure to
		// split it now is an error, never a reason to drop its packets.
		if storedComponents, err = splitComponents(stored); err != nil {
			return nil, false, fmt.Errorf("failed to read the stored key: %w", err)
		}
		sources = append(sources, packetSource{components: storedComponents, trusted: true})
	}
	for _, key := range imported {
		importedComponents, err := splitComponents(key)
		if err != nil {
			return nil, false, fmt.Errorf("failed to read the imported key: %w", err)
		}
		sources = append(sources, packetSource{components: importedComponents})
	}

	union := unionPackets(base, primary, secret, sources...)
	if stored != nil && samePackets(union, storedComponents) {
		return stored, false, nil
	}
	data, err = joinComponents(union)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// rawKeys returns the binary packets of every key in data, input that
// parseInput read without error, by lowercase primary key fingerprint. A key
// that the input contains twice, such as a certificate and a secret key,
// has two entries. Data it cannot split yields no entries, which only
// leaves out packets that the OpenPGP library does not read.
func rawKeys(data []byte) map[string][][]byte {
	blocks, err := splitInput(data)
	if err != nil {
		return nil
	}
	keys := make(map[string][][]byte)
	for _, block := range blocks {
		var fpr string
		var key bytes.Buffer
		flush := func() {
			if fpr != "" {
				keys[fpr] = append(keys[fpr], bytes.Clone(key.Bytes()))
			}
			key.Reset()
		}

		r := packet.NewOpaqueReader(bytes.NewReader(block))
		for {
			op, err := r.Next()
			if err != nil {
				break
			}
			if op.Tag == tagPublicKey || op.Tag == tagSecretKey {
				flush()
				fpr = strings.TrimPrefix(keyComponentID(op), "key ")
			}
			if err := op.Serialize(&key); err != nil {
				break
			}
		}
		flush()
	}
	return keys
}

// certificateBytes returns the stored certificate fpr, which parsed as cert,
// for Export: cert as the OpenPGP library writes it, with the packets of the
// stored file that the library leaves out put back. Secret key packets that
// another program stored in the certificate directory are never included.
func (k *Keyring) certificateBytes(fpr string, cert *openpgp.Entity) ([]byte, error) {
	encoded, err := encodeEntity(cert, false)
	if err != nil {
		return nil, err
	}
	base, err := splitComponents(encoded)
	if err != nil {
		return nil, err
	}
	stored, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		return nil, fmt.Errorf("failed to read stored certificate: %w", err)
	}
	storedComponents, err := splitComponents(stored)
	if err != nil {
		return nil, fmt.Errorf("failed to read stored certificate: %w", err)
	}
	union := unionPackets(base, cert.PrimaryKey, false, packetSource{components: storedComponents, trusted: true})
	return joinComponents(union)
}
