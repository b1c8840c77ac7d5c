package smime

import (
	"fmt"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// cmsBody returns the body of an entity that holds a CMS structure, with
// its base64 transfer encoding undone. A body in 7bit, 8bit or binary is
// the DER itself; quoted-printable cannot carry CMS.
func cmsBody(e *rawmime.Entity) ([]byte, error) {
	if encoding := e.TransferEncoding(); encoding == "quoted-printable" {
		return nil, fmt.Errorf("smime: Content-Transfer-Encoding %q is not valid for a CMS body; use base64", encoding)
	}
	return e.DecodedBody()
}
