package keyring

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Statuses of X.509 certificates, beside StatusExpired, StatusWeak and
// StatusUnsupported, which mean for certificates what they mean for keys.
const (
	StatusNotYetValid Status = "not-yet-valid" // before its NotBefore
	// StatusUntrusted is the status of a certificate without a valid chain
	// to a trust anchor.
	StatusUntrusted Status = "untrusted"
	// StatusNoEmailProtection is the status of a certificate whose extended
	// key usage, or that of a CA above it, does not allow S/MIME.
	StatusNoEmailProtection Status = "no-email-protection"
	// StatusWrongKeyUsage is the status of a certificate whose key usage
	// allows neither encryption nor signing, whichever was asked for.
	StatusWrongKeyUsage Status = "wrong-key-usage"
	// StatusAddressMismatch is the status of a certificate that does not
	// contain the address it was asked for in its subjectAltName.
	StatusAddressMismatch Status = "address-mismatch"
	// StatusAnchor is the status List gives a trust anchor.
	StatusAnchor Status = "anchor"
	// StatusCA is the status List gives a stored CA certificate that is not
	// a trust anchor, such as an intermediate: it completes chains but is
	// never a recipient or a signer.
	StatusCA Status = "ca"
)

// CertPolicy is the trust policy of X.509 validation. The zero value trusts
// only the anchors that the user added with AddTrustAnchor, fetches CRLs
// with a default client, and accepts a certificate whose revocation cannot
// be checked, without a warning.
type CertPolicy struct {
	// SystemRoots adds the system's TLS roots to the trust anchors. Off by
	// default, because those CAs were chosen to vouch for web servers, not
	// for email addresses.
	SystemRoots bool

	// RequireRevocationCheck rejects a certificate, with a *CertError of
	// StatusRevocationUnknown, when no CRL of its distribution points can be
	// fetched and verified. Off by default, so that a CA that cannot be
	// reached does not stop mail.
	RequireRevocationCheck bool

	// Warn receives a warning, one line without a prefix, when the
	// revocation of a certificate cannot be checked and
	// RequireRevocationCheck is off, or when a fetched CRL cannot be cached.
	// nil drops the warnings.
	Warn func(msg string)

	// HTTPClient fetches the CRLs. nil means a client with a timeout of 10
	// seconds, TLS 1.2 or later with certificate verification for https://,
	// and the proxy of the environment. A client given here is used as it
	// is, with its own TLS settings.
	HTTPClient *http.Client

	// Offline uses only the cached CRLs and fetches none, as List does. A
	// certificate whose CRL is not cached, or has expired, is one whose
	// revocation cannot be checked.
	Offline bool
}

// CertUsage is the use a certificate is validated for: encryption or signing.
type CertUsage int

const (
	// UsageEncryption checks that mail can be encrypted to the certificate.
	UsageEncryption CertUsage = iota
	// UsageSigning checks that the certificate can sign mail.
	UsageSigning
)

// CertError is the reason a certificate cannot be used for an address.
type CertError struct {
	Address     string // "" when validated without an address
	Fingerprint string // lowercase hex SHA-256 of the DER certificate
	Subject     string // the subject distinguished name
	Status      Status
	// Revoked is the revocation date of the certificate, or of the revoked
	// CA certificate of its chain, for StatusRevoked.
	Revoked time.Time
	Err     error // the detail
}

func (e *CertError) Error() string {
	subject := fmt.Sprintf("certificate %q (SHA-256 %s)", e.Subject, e.Fingerprint)
	reason := subject + " " + statusPhrase(e.Status)
	if e.Err != nil {
		reason += ": " + e.Err.Error()
	}
	if hint := certHint(e.Status); hint != "" {
		reason += "; " + hint
	}
	if e.Address == "" {
		return reason
	}
	return fmt.Sprintf("no usable certificate for %q: %s", e.Address, reason)
}

func (e *CertError) Unwrap() error { return e.Err }

// statusPhrase returns the words for what a certificate of status is.
func statusPhrase(status Status) string {
	switch status {
	case StatusExpired:
		return "has expired"
	case StatusNotYetValid:
		return "is not valid yet"
	case StatusUntrusted:
		return "does not chain to a trusted CA"
	case StatusNoEmailProtection:
		return "is not issued for S/MIME (no emailProtection purpose)"
	case StatusWrongKeyUsage:
		return "has a key usage that does not allow this use"
	case StatusAddressMismatch:
		return "does not contain the address"
	case StatusWeak:
		return "has a key that is too weak"
	case StatusUnsupported:
		return "has a key type sealmail does not support"
	case StatusRevoked:
		return "is revoked"
	case StatusRevocationUnknown:
		return "could not be checked for revocation"
	case StatusCA:
		return "is a CA certificate"
	}
	return "is " + string(status)
}

// certHint returns what the user can do about a certificate of status.
func certHint(status Status) string {
	switch status {
	case StatusExpired:
		return "import a current certificate"
	case StatusNotYetValid:
		return "check the system clock, or wait until the certificate is valid"
	case StatusUntrusted:
		return "add the certificate of the issuing CA with \"sealmail keyring trust FILE\", and its intermediate CAs with \"sealmail keyring import\""
	case StatusNoEmailProtection:
		return "ask for a certificate issued for S/MIME, with the extended key usage emailProtection"
	case StatusWrongKeyUsage:
		return "ask for a certificate whose key usage allows this use"
	case StatusAddressMismatch:
		return "use a certificate issued for this address"
	case StatusWeak:
		return "ask for a certificate with an RSA key of at least 2048 bits"
	case StatusUnsupported:
		return "ask for a certificate with an RSA, EC P-256 or EC P-384 key"
	case StatusRevoked:
		return "ask the owner for a new certificate"
	case StatusRevocationUnknown:
		return "no current CRL signed by the issuing CA could be had; check the CRL distribution point and what it serves, or send without --require-revocation-check"
	case StatusCA:
		return "a CA certificate vouches for others and is never a recipient or a signer; use the person's own certificate"
	}
	return ""
}

// Anchors returns the trust anchors of policy: the user's anchors, and the
// system's TLS roots when policy.SystemRoots is set. Anchor files that
// cannot be read are left out. The pool serves to verify S/MIME signatures.
func (k *Keyring) Anchors(ctx context.Context, policy CertPolicy) (*x509.CertPool, error) {
	anchors, _, err := k.readX509s(ctx, true)
	if err != nil {
		return nil, err
	}
	return anchorPool(anchors, policy)
}

// anchorPool returns a pool of anchors, on top of the system roots when
// policy.SystemRoots is set.
func anchorPool(anchors []storedCertificate, policy CertPolicy) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if policy.SystemRoots {
		system, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("failed to load the system's root certificates: %w", err)
		}
		pool = system
	}
	for _, anchor := range anchors {
		pool.AddCert(anchor.cert)
	}
	return pool, nil
}

// x509Store is the content of the X.509 store, read once for a lookup.
type x509Store struct {
	certs      []storedCertificate
	anchors    []storedCertificate
	roots      *x509.CertPool
	pool       *x509.CertPool // every stored certificate, as intermediates
	unreadable []*unreadableFile
	revocation *revocationChecker
}

// readX509Store reads the stored certificates and anchors for policy.
func (k *Keyring) readX509Store(ctx context.Context, policy CertPolicy) (*x509Store, error) {
	certs, unreadable, err := k.readX509s(ctx, false)
	if err != nil {
		return nil, err
	}
	anchors, unreadableAnchors, err := k.readX509s(ctx, true)
	if err != nil {
		return nil, err
	}
	roots, err := anchorPool(anchors, policy)
	if err != nil {
		return nil, err
	}

	pool := x509.NewCertPool()
	for _, stored := range certs {
		pool.AddCert(stored.cert)
	}
	return &x509Store{
		certs:      certs,
		anchors:    anchors,
		roots:      roots,
		pool:       pool,
		unreadable: append(unreadable, unreadableAnchors...),
		revocation: newRevocationChecker(k, policy),
	}, nil
}

// VerifyCertificate validates cert for usage at now, as RFC 8550 requires: a
// chain to a trust anchor of policy, through the stored certificates and
// intermediates (as from a signed message); every certificate of the chain
// within its validity period; key usage and extended key usage that allow
// S/MIME and usage; a supported key of sufficient size; unless address is
// "", the address in its subjectAltName; and no certificate of the chain but
// the anchor revoked, as the package doc describes. It returns the chain
// from cert to the anchor. Every failure is a *CertError, but for the error
// of ctx.
func (k *Keyring) VerifyCertificate(ctx context.Context, cert *x509.Certificate, intermediates []*x509.Certificate,
	address string, now time.Time, policy CertPolicy, usage CertUsage) ([]*x509.Certificate, error) {
	store, err := k.readX509Store(ctx, policy)
	if err != nil {
		return nil, err
	}
	for _, intermediate := range intermediates {
		store.pool.AddCert(intermediate)
	}
	return store.validate(ctx, cert, address, now, usage)
}

// validate checks cert as VerifyCertificate describes. The checks that need
// no chain come first, so that the status names the most specific cause.
func (s *x509Store) validate(ctx context.Context, cert *x509.Certificate, address string, now time.Time, usage CertUsage) ([]*x509.Certificate, error) {
	certError := func(status Status, err error) *CertError {
		return &CertError{
			Address:     address,
			Fingerprint: certFingerprint(cert),
			Subject:     readableSubject(cert),
			Status:      status,
			Err:         err,
		}
	}
	fail := func(status Status, err error) ([]*x509.Certificate, error) {
		return nil, certError(status, err)
	}

	// RFC 5280 section 4.2.1.9: a CA certificate certifies other keys; S/MIME
	// encrypts and signs with end-entity certificates only.
	if cert.IsCA {
		return fail(StatusCA, errors.New("its basicConstraints say CA:TRUE"))
	}
	if status, err := checkCertKey(cert, usage); err != nil {
		return fail(status, err)
	}
	if status, err := checkValidity(cert, now); err != nil {
		return fail(status, err)
	}
	if address != "" {
		if err := checkAddress(cert, address); err != nil {
			return fail(StatusAddressMismatch, err)
		}
	}
	if !allowsEmailProtection(cert) {
		return fail(StatusNoEmailProtection, errors.New("its extended key usage does not include emailProtection"))
	}
	if err := checkKeyUsage(cert, usage); err != nil {
		return fail(StatusWrongKeyUsage, err)
	}

	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         s.roots,
		Intermediates: s.pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	})
	if err != nil {
		return fail(chainStatus(err), err)
	}
	// x509.Verify checks the validity period of every certificate in the
	// chain too; this names the one that failed.
	for _, link := range chains[0][1:] {
		if status, err := checkValidity(link, now); err != nil {
			return fail(status, fmt.Errorf("CA certificate %q: %w", readableSubject(link), err))
		}
	}

	// Revocation comes last, because it may need the network.
	if err := s.revocation.checkChain(ctx, chains[0], now); err != nil {
		var revocation *revocationError
		if !errors.As(err, &revocation) {
			return nil, err
		}
		failure := certError(revocation.status, revocation.err)
		failure.Revoked = revocation.revoked
		return nil, failure
	}
	return chains[0], nil
}

// chainStatus maps an error of x509.Verify to a Status.
func chainStatus(err error) Status {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			return StatusExpired
		case x509.IncompatibleUsage:
			return StatusNoEmailProtection
		}
	}
	return StatusUntrusted
}

// checkValidity checks that now is within the validity period of cert.
func checkValidity(cert *x509.Certificate, now time.Time) (Status, error) {
	switch {
	case now.Before(cert.NotBefore):
		return StatusNotYetValid, fmt.Errorf("it is valid from %s", cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(cert.NotAfter):
		return StatusExpired, fmt.Errorf("it expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return StatusValid, nil
}

// allowsEmailProtection reports whether the extended key usage of cert
// allows S/MIME: it is absent, or it contains emailProtection or
// anyExtendedKeyUsage (RFC 8550 section 4.4.4).
func allowsEmailProtection(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, usage := range cert.ExtKeyUsage {
		if usage == x509.ExtKeyUsageEmailProtection || usage == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// checkKeyUsage checks the key usage extension of cert, when it is present
// (RFC 8550 section 4.4.2): digitalSignature or nonRepudiation for signing,
// keyEncipherment for RSA encryption and keyAgreement for EC encryption.
func checkKeyUsage(cert *x509.Certificate, usage CertUsage) error {
	if cert.KeyUsage == 0 {
		return nil
	}

	switch {
	case usage == UsageSigning:
		if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
			return errors.New("its key usage allows neither digitalSignature nor nonRepudiation, so it cannot sign")
		}
	case cert.PublicKeyAlgorithm == x509.RSA:
		if cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return errors.New("its key usage does not allow keyEncipherment, so it cannot be encrypted to")
		}
	default:
		if cert.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return errors.New("its key usage does not allow keyAgreement, so it cannot be encrypted to")
		}
	}
	return nil
}

// checkCertKey checks that sealmail can use the public key of cert for
// usage: RSA of at least minRSABits, or EC P-256 or P-384, and P-521 for
// signing only.
func checkCertKey(cert *x509.Certificate, usage CertUsage) (Status, error) {
	switch key := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := key.N.BitLen(); bits < minRSABits {
			return StatusWeak, fmt.Errorf("its RSA key has %d bits, fewer than the minimum of %d", bits, minRSABits)
		}
		return StatusValid, nil
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256(), elliptic.P384():
			return StatusValid, nil
		case elliptic.P521():
			if usage == UsageSigning {
				return StatusValid, nil
			}
		}
		return StatusUnsupported, fmt.Errorf("its key is %s, which sealmail does not encrypt to", certAlgorithm(cert))
	case ed25519.PublicKey, *ecdh.PublicKey:
		// NOTE: Ed25519 signatures (RFC 8419) are not written by the CMS
		// library, and OpenSSL 3.0 cannot use X25519 certificates in CMS.
		return StatusUnsupported, fmt.Errorf("its key is %s, which sealmail does not sign or encrypt with", certAlgorithm(cert))
	default:
		return StatusUnsupported, fmt.Errorf("its key is %s, which sealmail does not sign or encrypt with", certAlgorithm(cert))
	}
}

// certAlgorithm names the key of cert: "rsa2048", "ecdsa-p256", "ed25519".
func certAlgorithm(cert *x509.Certificate) string {
	switch key := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", key.N.BitLen())
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(key.Curve.Params().Name, "-", ""))
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdh.PublicKey:
		if key.Curve() == ecdh.X25519() {
			return "x25519"
		}
		return "ecdh"
	default:
		return "unknown"
	}
}

// readableSubject returns the subject of cert as people read it: the common
// name and the email addresses, instead of the RFC 4514 string, which prints
// the emailAddress attribute as a hex-encoded object identifier.
func readableSubject(cert *x509.Certificate) string {
	parts := []string{}
	if cn := cert.Subject.CommonName; cn != "" {
		parts = append(parts, "CN="+cn)
	}
	for _, address := range certAddresses(cert) {
		parts = append(parts, "email="+address)
	}
	if len(parts) == 0 {
		return cert.Subject.String()
	}
	return strings.Join(parts, ", ")
}
