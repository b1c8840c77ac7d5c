package keyring

import (
	"encoding/binary"
	"fmt"
)

// checkFraming walks the packet headers of binary OpenPGP data (RFC 9580
// section 4.2) and returns an error unless the packets fill data exactly.
// packet.Read does not tell a truncated packet of an unknown or unsupported
// type from a complete one, so without this check trailing bytes that are not
// OpenPGP packets would be skipped silently.
func checkFraming(data []byte) error {
	for offset, index := 0, 1; offset < len(data); index++ {
		size, err := packetSize(data[offset:])
		if err != nil {
			return fmt.Errorf("packet %d at byte %d: %w", index, offset, err)
		}
		offset += size
	}
	return nil
}

// packetSize returns the length of the packet at the start of data, header
// included, or an error when data does not start with a complete packet.
func packetSize(data []byte) (int, error) {
	tag := data[0]
	if tag&0x80 == 0 {
		return 0, fmt.Errorf("byte %#02x is not an OpenPGP packet tag, so the data is not OpenPGP from here on", tag)
	}

	if tag&0x40 == 0 {
		return oldFormatSize(data)
	}
	offset := 1
	for {
		length, headerSize, partial, err := newFormatLength(data[offset:])
		if err != nil {
			return 0, err
		}
		offset += headerSize
		if length > len(data)-offset {
			return 0, fmt.Errorf("truncated: the packet declares %d more bytes, but only %d remain", length, len(data)-offset)
		}
		offset += length
		if !partial {
			return offset, nil
		}
	}
}

// oldFormatSize returns the length of the legacy-format packet at the start
// of data (RFC 9580 section 4.2.2).
func oldFormatSize(data []byte) (int, error) {
	var headerSize, length int
	switch data[0] & 0x03 {
	case 0:
		headerSize = 2
	case 1:
		headerSize = 3
	case 2:
		headerSize = 5
	case 3:
		// An indeterminate length runs to the end of the data.
		return len(data), nil
	}
	if len(data) < headerSize {
		return 0, fmt.Errorf("truncated: the packet header is incomplete")
	}

	switch headerSize {
	case 2:
		length = int(data[1])
	case 3:
		length = int(binary.BigEndian.Uint16(data[1:3]))
	case 5:
		length = int(binary.BigEndian.Uint32(data[1:5]))
	}
	if length > len(data)-headerSize {
		return 0, fmt.Errorf("truncated: the packet declares %d bytes, but only %d remain", length, len(data)-headerSize)
	}
	return headerSize + length, nil
}

// newFormatLength decodes the OpenPGP-format length at the start of data
// (RFC 9580 section 4.2.1): the body length, the size of the length field,
// and whether the length is a partial body length, after which another
// length follows.
func newFormatLength(data []byte) (length, size int, partial bool, err error) {
	if len(data) == 0 {
		return 0, 0, false, fmt.Errorf("truncated: the packet length is missing")
	}
	first := int(data[0])
	switch {
	case first < 192:
		return first, 1, false, nil
	case first < 224:
		if len(data) < 2 {
			return 0, 0, false, fmt.Errorf("truncated: the packet length is incomplete")
		}
		return (first-192)<<8 + int(data[1]) + 192, 2, false, nil
	case first < 255:
		return 1 << (first & 0x1f), 1, true, nil
	default:
		if len(data) < 5 {
			return 0, 0, false, fmt.Errorf("truncated: the packet length is incomplete")
		}
		return int(binary.BigEndian.Uint32(data[1:5])), 5, false, nil
	}
}
