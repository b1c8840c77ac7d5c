package cms

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// RFC 3394 section 4 test vectors.
var keyWrapVectors = []struct {
	name, kek, key, wrapped string
}{
	{"4.1 128-bit key, 128-bit KEK", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
	{"4.2 128-bit key, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
	{"4.3 128-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
	{"4.4 192-bit key, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
	{"4.5 192-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
	{"4.6 256-bit key, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
}

func decodeHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("invalid hex %q: %v", s, err)
	}
	return b
}

func TestKeyWrapRFC3394Vectors(t *testing.T) {
	for _, v := range keyWrapVectors {
		t.Run(v.name, func(t *testing.T) {
			kek, key, want := decodeHex(t, v.kek), decodeHex(t, v.key), decodeHex(t, v.wrapped)

			got, err := wrapKey(kek, key)
			if err != nil {
				t.Fatalf("wrapKey: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wrapKey = %X, want %X", got, want)
			}

			unwrapped, err := unwrapKey(kek, want)
			if err != nil {
				t.Fatalf("unwrapKey: %v", err)
			}
			if !bytes.Equal(unwrapped, key) {
				t.Errorf("unwrapKey = %X, want %X", unwrapped, key)
			}
		})
	}
}

func TestUnwrapKeyRejectsAlteredKey(t *testing.T) {
	v := keyWrapVectors[0]
	wrapped := decodeHex(t, v.wrapped)
	wrapped[len(wrapped)-1] ^= 1

	_, err := unwrapKey(decodeHex(t, v.kek), wrapped)
	if !errors.Is(err, errKeyUnwrap) {
		t.Errorf("unwrapKey of an altered key: err = %v, want %v", err, errKeyUnwrap)
	}
}

func TestUnwrapKeyRejectsBadLengths(t *testing.T) {
	kek := make([]byte, 16)
	for _, size := range []int{0, 8, 16, 23, 25} {
		if _, err := unwrapKey(kek, make([]byte, size)); err == nil {
			t.Errorf("unwrapKey of %d bytes: no error", size)
		}
	}
}
