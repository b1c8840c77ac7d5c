package mailkeys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// maxAutocryptSize is the size in bytes, name and folding white space
// included, above which Autocrypt Level 1 advises to treat an Autocrypt
// header field as invalid.
const maxAutocryptSize = 10 << 10

// autocryptLocation is Key.Location for the key of an Autocrypt header field.
const autocryptLocation = "the Autocrypt header"

// autocryptKey returns the key of the single valid Autocrypt header field of
// message, or nil, and the reason each other Autocrypt header field was
// ignored. from is the single From address, or "" with the reason in
// fromProblem.
func autocryptKey(message *rawmime.Entity, from, fromProblem string) (*Key, []string) {
	var valid []*Key
	var ignored []string
	fields := message.Header.FieldsByKey("Autocrypt")
	for n := 1; fields.Next(); n++ {
		if raw, err := fields.Raw(); err == nil && len(raw) > maxAutocryptSize {
			ignored = append(ignored, fmt.Sprintf("Autocrypt header field %d is larger than %d KiB", n, maxAutocryptSize>>10))
			continue
		}
		key, err := parseAutocrypt(fields.Value())
		if err != nil {
			ignored = append(ignored, fmt.Sprintf("Autocrypt header field %d is invalid: %v", n, err))
			continue
		}
		if from == "" {
			ignored = append(ignored, fmt.Sprintf("Autocrypt header field %d was ignored because %s", n, fromProblem))
			continue
		}
		if !strings.EqualFold(key.Address, from) {
			ignored = append(ignored, fmt.Sprintf("Autocrypt header field %d is for %q, not for the From address %q", n, key.Address, from))
			continue
		}
		valid = append(valid, key)
	}

	if len(valid) > 1 {
		// Autocrypt Level 1 treats several valid header fields as an error
		// and discards them all.
		ignored = append(ignored, fmt.Sprintf("the message has %d valid Autocrypt header fields, and Autocrypt requires ignoring them all", len(valid)))
		return nil, ignored
	}
	if len(valid) == 0 {
		return nil, ignored
	}
	return valid[0], ignored
}

// parseAutocrypt parses the value of an Autocrypt header field:
// "addr=ADDRESS; [prefer-encrypt=mutual;] keydata=BASE64", with more
// attributes allowed. Folding has already turned line breaks into spaces.
func parseAutocrypt(value string) (*Key, error) {
	key := &Key{Kind: KindAutocrypt, Location: autocryptLocation}
	seen := make(map[string]bool)
	var keydata string
	for attribute := range strings.SplitSeq(value, ";") {
		attribute = strings.TrimSpace(attribute)
		if attribute == "" {
			continue
		}
		name, attributeValue, ok := strings.Cut(attribute, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("attribute %q has no value", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("attribute %q appears more than once", name)
		}
		seen[name] = true

		switch name {
		case "addr":
			key.Address = strings.TrimSpace(attributeValue)
		case "prefer-encrypt":
			// Any value but mutual means no preference.
			key.PreferEncrypt = strings.TrimSpace(attributeValue) == "mutual"
		case "keydata":
			keydata = attributeValue
		default:
			// A name that starts with "_" marks a non-critical attribute,
			// which may be ignored. An unknown critical one may not.
			if !strings.HasPrefix(name, "_") {
				return nil, fmt.Errorf("unknown critical attribute %q", name)
			}
		}
	}

	if key.Address == "" {
		return nil, errors.New("the addr attribute is missing")
	}
	if !seen["keydata"] {
		return nil, errors.New("the keydata attribute is missing")
	}
	data, err := decodeKeydata(keydata)
	if err != nil {
		return nil, err
	}
	if err := checkBinaryKey(data); err != nil {
		return nil, fmt.Errorf("keydata is not an OpenPGP key: %w", err)
	}
	key.Data = data
	return key, nil
}

// decodeKeydata decodes the base64 of a keydata attribute, without the
// white space that folding left in it.
func decodeKeydata(keydata string) ([]byte, error) {
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, keydata)
	if compact == "" {
		return nil, errors.New("the keydata attribute is empty")
	}

	encoding := base64.StdEncoding
	if len(compact)%4 != 0 {
		// Unpadded base64 is accepted too, because the value's end is known.
		encoding = base64.RawStdEncoding
	}
	data, err := encoding.DecodeString(compact)
	if err != nil {
		return nil, fmt.Errorf("keydata is not valid base64: %w", err)
	}
	return data, nil
}

// OpenPGP packet tags of the packets a transferable key starts with (RFC
// 9580 section 5).
const (
	tagSecretKey = 5
	tagPublicKey = 6
)

// checkBinaryKey checks that data starts with a public or secret key packet,
// as a binary transferable key does. The keyring parses the whole key later,
// so this check only keeps other data from passing for a key.
func checkBinaryKey(data []byte) error {
	if len(data) == 0 {
		return errors.New("it is empty")
	}
	// Every packet starts with a byte whose top bit is set. Bit 6 selects
	// the OpenPGP packet format with the tag in the low six bits over the
	// legacy format with the tag in bits 2 to 5 (RFC 9580 section 4.2).
	first := data[0]
	if first&0x80 == 0 {
		return errors.New("it does not start with an OpenPGP packet")
	}
	tag := int(first&0x3c) >> 2
	if first&0x40 != 0 {
		tag = int(first & 0x3f)
	}
	if tag != tagPublicKey && tag != tagSecretKey {
		return fmt.Errorf("its first packet has tag %d, not that of a key", tag)
	}
	return nil
}
