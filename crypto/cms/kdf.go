package cms

import (
	"encoding/binary"
	"hash"
)

// x963KDF derives size bytes from the shared secret z with the KDF of ANSI
// X9.63 that RFC 5753 section 7.2 prescribes: the concatenation of
// H(z || counter || sharedInfo) for a 32-bit big-endian counter from 1.
func x963KDF(newHash func() hash.Hash, z, sharedInfo []byte, size int) []byte {
	out := make([]byte, 0, size)
	h := newHash()
	var counter [4]byte
	for i := uint32(1); len(out) < size; i++ {
		binary.BigEndian.PutUint32(counter[:], i)
		h.Reset()
		h.Write(z)
		h.Write(counter[:])
		h.Write(sharedInfo)
		out = h.Sum(out)
	}
	return out[:size]
}
