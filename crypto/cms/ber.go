package cms

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// A node is one BER element (X.690) read from a message: a primitive with
// its content octets, or a constructed element with its children.
type node struct {
	class       int // asn1.ClassUniversal, ClassContextSpecific, ...
	tag         int
	constructed bool
	content     []byte  // content octets of a primitive
	children    []*node // elements of a constructed element
	raw         []byte  // the whole element as read, header included
	definite    bool    // the length was definite, not the indefinite form
}

// maxDepth bounds the nesting of constructed elements, so hostile input
// cannot exhaust the stack. CMS messages nest fewer than 20 levels.
const maxDepth = 64

var errMalformed = errors.New("cms: malformed BER")

// parseBER reads exactly one element from b, in DER or BER.
func parseBER(b []byte) (*node, error) {
	n, rest, err := parseElement(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end of the structure", errMalformed, len(rest))
	}
	return n, nil
}

// parseElement reads one element at the start of b and returns the bytes
// after it.
func parseElement(b []byte, depth int) (*node, []byte, error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d levels", errMalformed, maxDepth)
	}
	start := b
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated element", errMalformed)
	}

	n := &node{class: int(b[0] >> 6), constructed: b[0]&0x20 != 0, tag: int(b[0] & 0x1f)}
	b = b[1:]
	if n.tag == 0x1f {
		// High tag number form: base 128, at most 4 octets, which covers
		// every tag CMS uses.
		n.tag = 0
		for i := 0; ; i++ {
			if len(b) == 0 || i == 4 {
				return nil, nil, fmt.Errorf("%w: invalid tag", errMalformed)
			}
			n.tag = n.tag<<7 | int(b[0]&0x7f)
			more := b[0]&0x80 != 0
			b = b[1:]
			if !more {
				break
			}
		}
	}

	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: truncated length", errMalformed)
	}
	lengthOctet := b[0]
	b = b[1:]

	if lengthOctet == 0x80 {
		if !n.constructed {
			return nil, nil, fmt.Errorf("%w: indefinite length on a primitive element", errMalformed)
		}
		for {
			if len(b) >= 2 && b[0] == 0 && b[1] == 0 {
				b = b[2:]
				break
			}
			child, rest, err := parseElement(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			n.children = append(n.children, child)
			b = rest
		}
		n.raw = start[:len(start)-len(b)]
		return n, b, nil
	}

	length := int(lengthOctet)
	if lengthOctet&0x80 != 0 {
		count := int(lengthOctet & 0x7f)
		if count > 4 || count > len(b) {
			return nil, nil, fmt.Errorf("%w: invalid length", errMalformed)
		}
		length = 0
		for _, c := range b[:count] {
			length = length<<8 | int(c)
		}
		b = b[count:]
	}
	if length < 0 || length > len(b) {
		return nil, nil, fmt.Errorf("%w: length %d beyond the end of the input", errMalformed, length)
	}

	content := b[:length]
	rest := b[length:]
	n.definite = true
	n.raw = start[:len(start)-len(rest)]
	if !n.constructed {
		n.content = content
		return n, rest, nil
	}
	for len(content) > 0 {
		child, after, err := parseElement(content, depth+1)
		if err != nil {
			return nil, nil, err
		}
		n.children = append(n.children, child)
		content = after
	}
	return n, rest, nil
}

// is reports whether n has the given class, tag and form.
func (n *node) is(class, tag int, constructed bool) bool {
	return n != nil && n.class == class && n.tag == tag && n.constructed == constructed
}

// isUniversal reports whether n is the universal element tag, in either form.
func (n *node) isUniversal(tag int) bool {
	return n != nil && n.class == asn1.ClassUniversal && n.tag == tag
}

// octets returns the value of an OCTET STRING (or an implicitly tagged one)
// in the primitive form or the constructed form of BER, where the value is
// the concatenation of the nested strings.
func (n *node) octets() ([]byte, error) {
	if !n.constructed {
		return n.content, nil
	}
	var buf bytes.Buffer
	if err := n.appendOctets(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (n *node) appendOctets(buf *bytes.Buffer) error {
	for _, child := range n.children {
		if !child.isUniversal(asn1.TagOctetString) {
			return fmt.Errorf("%w: constructed OCTET STRING contains another type", errMalformed)
		}
		if !child.constructed {
			buf.Write(child.content)
			continue
		}
		if err := child.appendOctets(buf); err != nil {
			return err
		}
	}
	return nil
}

// oid returns the value of an OBJECT IDENTIFIER element.
func (n *node) oid() (asn1.ObjectIdentifier, error) {
	if !n.is(asn1.ClassUniversal, asn1.TagOID, false) {
		return nil, fmt.Errorf("%w: expected an OBJECT IDENTIFIER", errMalformed)
	}
	if len(n.content) > 127 {
		return nil, fmt.Errorf("%w: OBJECT IDENTIFIER too long", errMalformed)
	}
	var oid asn1.ObjectIdentifier
	der := append([]byte{asn1.TagOID, byte(len(n.content))}, n.content...)
	if _, err := asn1.Unmarshal(der, &oid); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return oid, nil
}

// integer returns the value of an INTEGER element.
func (n *node) integer() (*big.Int, error) {
	if !n.is(asn1.ClassUniversal, asn1.TagInteger, false) || len(n.content) == 0 {
		return nil, fmt.Errorf("%w: expected an INTEGER", errMalformed)
	}
	v := new(big.Int).SetBytes(n.content)
	if n.content[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(len(n.content))*8))
	}
	return v, nil
}

// der returns the DER encoding of n with definite lengths, so that a name
// sent in BER can be compared with the DER bytes of a certificate. It does
// not sort SET OF elements, which DER senders already did.
func (n *node) der() []byte {
	if n.definite && !n.constructed {
		return n.raw
	}
	var content []byte
	if n.constructed {
		for _, child := range n.children {
			content = append(content, child.der()...)
		}
	} else {
		content = n.content
	}
	return appendHeader(nil, n.class, n.tag, n.constructed, len(content), content)
}

// appendHeader appends a definite-length element to b.
func appendHeader(b []byte, class, tag int, constructed bool, length int, content []byte) []byte {
	first := byte(class << 6)
	if constructed {
		first |= 0x20
	}
	if tag < 0x1f {
		b = append(b, first|byte(tag))
	} else {
		b = append(b, first|0x1f)
		var digits []byte
		for t := tag; t > 0; t >>= 7 {
			digits = append([]byte{byte(t & 0x7f)}, digits...)
		}
		for i := range len(digits) - 1 {
			digits[i] |= 0x80
		}
		b = append(b, digits...)
	}
	b = appendLength(b, length)
	return append(b, content...)
}

// appendLength appends a DER length.
func appendLength(b []byte, length int) []byte {
	if length < 0x80 {
		return append(b, byte(length))
	}
	var digits []byte
	for l := length; l > 0; l >>= 8 {
		digits = append([]byte{byte(l)}, digits...)
	}
	b = append(b, 0x80|byte(len(digits)))
	return append(b, digits...)
}
