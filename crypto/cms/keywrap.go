package cms

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// keyWrapIV is the default initial value of RFC 3394 section 2.2.3.1.
var keyWrapIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

var errKeyUnwrap = errors.New("cms: key unwrap failed: the integrity check of the wrapped key did not match")

// wrapKey wraps key under kek with the AES key wrap of RFC 3394 section
// 2.2.1. The key is a multiple of 8 bytes and at least 16 bytes long.
func wrapKey(kek, key []byte) ([]byte, error) {
	if len(key) < 16 || len(key)%8 != 0 {
		return nil, fmt.Errorf("cms: cannot wrap a key of %d bytes: AES key wrap needs a multiple of 8 bytes, at least 16", len(key))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: invalid key-encryption key: %w", err)
	}

	n := len(key) / 8
	out := make([]byte, 8+len(key))
	copy(out[:8], keyWrapIV[:])
	copy(out[8:], key)

	var buf [16]byte
	for j := range 6 {
		for i := 1; i <= n; i++ {
			copy(buf[:8], out[:8])
			copy(buf[8:], out[8*i:8*i+8])
			block.Encrypt(buf[:], buf[:])

			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:8*i+8], buf[8:])
		}
	}
	return out, nil
}

// unwrapKey reverses wrapKey (RFC 3394 section 2.2.2) and checks the
// integrity value.
func unwrapKey(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, fmt.Errorf("cms: invalid wrapped key of %d bytes: AES key wrap makes a multiple of 8 bytes, at least 24", len(wrapped))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: invalid key-encryption key: %w", err)
	}

	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped))
	copy(out, wrapped)

	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(out[:8])^t)
			copy(buf[8:], out[8*i:8*i+8])
			block.Decrypt(buf[:], buf[:])

			copy(out[:8], buf[:8])
			copy(out[8*i:8*i+8], buf[8:])
		}
	}

	if subtle.ConstantTimeCompare(out[:8], keyWrapIV[:]) != 1 {
		return nil, errKeyUnwrap
	}
	return out[8:], nil
}
