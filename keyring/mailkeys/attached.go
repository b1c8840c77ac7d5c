package mailkeys

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// maxParts is how many MIME entities Extract reads in one message. It bounds
// the work for a message made of millions of tiny parts.
const maxParts = 10000

// walker collects the application/pgp-keys and certs-only parts of a MIME
// tree, and the entities whose content it cannot read.
type walker struct {
	keys      []Key
	certsOnly []CertsOnly
	unread    []string
	parts     int
}

// walkParts walks the MIME tree of message and returns the walker with the
// keys, certs-only parts and unread entities it found, each in the order of
// the parts. The keys have no Address yet.
func walkParts(message *rawmime.Entity) (*walker, error) {
	w := &walker{}
	if err := w.walk(message, "", 0); err != nil {
		return nil, err
	}
	return w, nil
}

// walk visits entity at depth levels below the message. number is the part
// number as IMAP gives it, such as "2.1", or "" for the message itself.
func (w *walker) walk(entity *rawmime.Entity, number string, depth int) error {
	w.parts++
	if w.parts > maxParts {
		return fmt.Errorf("failed to read the message: it has more than %d MIME parts", maxParts)
	}

	switch mediaType := entity.MediaType; {
	case mediaType == "application/pgp-keys":
		return w.addKey(entity, number)
	case isCertsOnly(entity):
		return w.addCertsOnly(entity, number)
	case mediaType == "multipart/encrypted", isPKCS7MIME(mediaType):
		// The content is ciphertext or inside a CMS structure such as an
		// opaque SignedData, so the keys and certificates in it cannot be
		// read here.
		w.unread = append(w.unread, partLocation(entity, number))
		return nil
	case strings.HasPrefix(mediaType, "multipart/"):
		return w.walkMultipart(entity, number, depth)
	default:
		return nil
	}
}

// walkMultipart visits each body part of the multipart entity.
func (w *walker) walkMultipart(entity *rawmime.Entity, number string, depth int) error {
	if depth >= maxDepth {
		return fmt.Errorf("failed to read %s: multipart entities nest deeper than %d levels", partName(number), maxDepth)
	}
	parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", partName(number), err)
	}

	for i, raw := range parts {
		child := strconv.Itoa(i + 1)
		if number != "" {
			child = number + "." + child
		}
		part, err := rawmime.ParseEntity(raw)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", partName(child), err)
		}
		if err := w.walk(part, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// addKey decodes the application/pgp-keys entity and adds its key.
func (w *walker) addKey(entity *rawmime.Entity, number string) error {
	location := partLocation(entity, number)
	data, err := entity.DecodedBody()
	if err != nil {
		return fmt.Errorf("failed to decode %s: %w", location, err)
	}
	if err := checkKeyPart(data); err != nil {
		return fmt.Errorf("%s is not an OpenPGP key: %w", location, err)
	}
	w.keys = append(w.keys, Key{Kind: KindAttached, Data: data, Location: location})
	return nil
}

// armorKeyLines are the armor header lines of key blocks (RFC 9580 section
// 6.2).
var armorKeyLines = [][]byte{
	[]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
	[]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
}

// checkKeyPart checks that data holds an armored key block, as RFC 3156
// section 7 requires of application/pgp-keys, or a binary key, which the
// keyring reads as well.
func checkKeyPart(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the part is empty")
	}
	for _, line := range armorKeyLines {
		if bytes.Contains(data, line) {
			return nil
		}
	}
	if data[0]&0x80 == 0 {
		return errors.New("the part has no armored key block and is not a binary key")
	}
	return checkBinaryKey(data)
}

// partName names the entity numbered number for messages.
func partName(number string) string {
	if number == "" {
		return "the message body"
	}
	return "part " + number
}

// partLocation returns the name of the part numbered number for error and
// import messages, such as `part 2 (application/pkcs7-mime, "smime.p7c")`,
// with the file name only when the part has one.
func partLocation(entity *rawmime.Entity, number string) string {
	name := fileName(entity)
	if name == "" {
		return fmt.Sprintf("%s (%s)", partName(number), entity.MediaType)
	}
	return fmt.Sprintf("%s (%s, %q)", partName(number), entity.MediaType, name)
}

// fileName returns the filename parameter of the entity's
// Content-Disposition, or else the name parameter of its Content-Type.
func fileName(entity *rawmime.Entity) string {
	if disposition := entity.Header.Get("Content-Disposition"); disposition != "" {
		if _, params, err := mime.ParseMediaType(disposition); err == nil && params["filename"] != "" {
			return params["filename"]
		}
	}
	return entity.Params["name"]
}
