package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// StatusRevocationUnknown is the status of a certificate whose revocation
// could not be checked, because no CRL of its distribution points could be
// fetched and verified, when CertPolicy.RequireRevocationCheck is set.
const StatusRevocationUnknown Status = "revocation-unknown"

// revocationError is the reason a chain fails the revocation check.
type revocationError struct {
	status  Status    // StatusRevoked or StatusRevocationUnknown
	revoked time.Time // the revocation date, for StatusRevoked
	err     error
}

func (e *revocationError) Error() string { return e.err.Error() }

func (e *revocationError) Unwrap() error { return e.err }

// revocationChecker checks certificates against the CRLs of their
// distribution points for one lookup, so that each CRL is read or fetched
// once and each warning is given once.
type revocationChecker struct {
	k      *Keyring
	policy CertPolicy
	client *http.Client
	crls   map[crlKey]crlResult
	warned map[string]bool
}

// crlKey identifies a CRL: its URL, and the issuer it must be signed by.
type crlKey struct {
	url    string
	issuer string // fingerprint of the issuer certificate
}

// crlResult is the outcome of crlFor for a crlKey.
type crlResult struct {
	current *x509.RevocationList // nil when none is current
	expired *x509.RevocationList // an expired CRL, when no current one was found
	err     error                // the reason no current CRL was found
}

func newRevocationChecker(k *Keyring, policy CertPolicy) *revocationChecker {
	return &revocationChecker{
		k:      k,
		policy: policy,
		crls:   make(map[crlKey]crlResult),
		warned: make(map[string]bool),
	}
}

// checkChain checks every certificate of chain, which runs from an
// end-entity certificate to a trust anchor, against the CRLs its issuer
// publishes. The trust anchor itself is not checked. A revoked certificate
// returns a *revocationError of StatusRevoked. A certificate whose
// revocation cannot be checked returns one of StatusRevocationUnknown when
// the policy requires the check, and calls policy.Warn otherwise.
func (r *revocationChecker) checkChain(ctx context.Context, chain []*x509.Certificate, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		err := r.checkCertificate(ctx, cert, issuer, now)
		if err == nil {
			continue
		}

		var revocation *revocationError
		if !errors.As(err, &revocation) {
			return err
		}
		if i > 0 {
			revocation.err = fmt.Errorf("CA certificate %q: %w", readableSubject(cert), revocation.err)
		}
		if revocation.status == StatusRevocationUnknown && !r.policy.RequireRevocationCheck {
			r.warn(fmt.Sprintf("certificate %q (SHA-256 %s) is used without a revocation check: %v",
				readableSubject(cert), certFingerprint(cert), revocation.err))
			continue
		}
		return revocation
	}
	return nil
}

// checkCertificate checks cert against the CRLs of its http:// and https://
// distribution points, signed by issuer. The first point with a current CRL
// decides. A certificate without distribution points is not checked.
func (r *revocationChecker) checkCertificate(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	if len(cert.CRLDistributionPoints) == 0 {
		return nil
	}

	var causes []error
	for _, url := range cert.CRLDistributionPoints {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			causes = append(causes, fmt.Errorf("distribution point %q skipped: only http:// and https:// CRLs are fetched", url))
			continue
		}

		result := r.crlFor(ctx, url, issuer, now)
		if err := ctx.Err(); err != nil {
			return err
		}
		// Revocations in an expired CRL still hold, so only the absence of
		// a serial number needs a current CRL.
		for _, crl := range []*x509.RevocationList{result.current, result.expired} {
			if entry := revokedEntry(crl, cert); entry != nil {
				return &revocationError{
					status:  StatusRevoked,
					revoked: entry.RevocationTime,
					err: fmt.Errorf("the CRL at %q lists it with the revocation date %s",
						url, entry.RevocationTime.UTC().Format(time.RFC3339)),
				}
			}
		}
		if result.current != nil {
			return nil
		}
		causes = append(causes, fmt.Errorf("CRL at %q: %w", url, result.err))
	}
	return &revocationError{status: StatusRevocationUnknown, err: joinCauses(causes)}
}

// revokedEntry returns the entry of crl for cert, or nil when crl is nil or
// does not list cert.
func revokedEntry(crl *x509.RevocationList, cert *x509.Certificate) *x509.RevocationListEntry {
	if crl == nil {
		return nil
	}
	for i := range crl.RevokedCertificateEntries {
		entry := &crl.RevokedCertificateEntries[i]
		if entry.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return entry
		}
	}
	return nil
}

// joinCauses joins errors into one error of one line, separated by "; ",
// which wraps each of them.
func joinCauses(causes []error) error {
	err := causes[0]
	for _, cause := range causes[1:] {
		err = fmt.Errorf("%w; %w", err, cause)
	}
	return err
}

// warn passes msg to policy.Warn once per lookup.
func (r *revocationChecker) warn(msg string) {
	if r.policy.Warn == nil || r.warned[msg] {
		return
	}
	r.warned[msg] = true
	r.policy.Warn(msg)
}

// crlFor returns the CRL at url for certificates of issuer: the cached CRL
// while it is current, or else a fetched one, which replaces it in the
// cache. Results are kept for the lookup.
func (r *revocationChecker) crlFor(ctx context.Context, url string, issuer *x509.Certificate, now time.Time) crlResult {
	key := crlKey{url: url, issuer: certFingerprint(issuer)}
	if result, ok := r.crls[key]; ok {
		return result
	}

	result := r.loadCRL(ctx, url, issuer, now)
	if ctx.Err() == nil {
		r.crls[key] = result
	}
	return result
}

// loadCRL does the work of crlFor.
func (r *revocationChecker) loadCRL(ctx context.Context, url string, issuer *x509.Certificate, now time.Time) crlResult {
	// A cached CRL that no longer verifies, as after a change of the
	// issuer's key, is ignored and replaced.
	cached, _ := verifyCRL(r.k.readCachedCRL(url), issuer, now)
	if isCurrent(cached, now) {
		return crlResult{current: cached}
	}
	if r.policy.Offline {
		if cached != nil {
			return crlResult{expired: cached, err: fmt.Errorf("the cached CRL expired on %s and the policy is offline",
				cached.NextUpdate.UTC().Format(time.RFC3339))}
		}
		return crlResult{err: errors.New("no cached CRL, and the policy is offline")}
	}

	der, err := r.fetchCRL(ctx, url)
	if err != nil {
		return crlResult{expired: cached, err: err}
	}
	fetched, err := verifyCRL(der, issuer, now)
	if err != nil {
		return crlResult{expired: cached, err: err}
	}
	// A CRL older than the cached one is a replay, possible over plain
	// HTTP, which could hide a revocation.
	if cached != nil && fetched.ThisUpdate.Before(cached.ThisUpdate) {
		return crlResult{expired: cached, err: fmt.Errorf("the server sent a CRL of %s, older than the cached CRL of %s",
			fetched.ThisUpdate.UTC().Format(time.RFC3339), cached.ThisUpdate.UTC().Format(time.RFC3339))}
	}

	if err := r.k.writeCachedCRL(url, der); err != nil {
		r.warn(fmt.Sprintf("the CRL at %q is checked but not cached: %v", url, err))
	}
	if !isCurrent(fetched, now) {
		return crlResult{expired: fetched, err: fmt.Errorf("the CRL on the server expired on %s; ask its CA to publish a new one",
			fetched.NextUpdate.UTC().Format(time.RFC3339))}
	}
	return crlResult{current: fetched}
}

// isCurrent reports whether crl is not nil and now is before its
// NextUpdate. A CRL without NextUpdate, which RFC 5280 requires of every
// CRL, is never current.
func isCurrent(crl *x509.RevocationList, now time.Time) bool {
	return crl != nil && !crl.NextUpdate.IsZero() && now.Before(crl.NextUpdate)
}

// Object identifiers of the CRL and CRL entry extensions of RFC 5280 that
// verifyCRL accepts as critical.
var (
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidReasonCode     = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDate = asn1.ObjectIdentifier{2, 5, 29, 24}
)

// verifyCRL parses the DER CRL der and checks that issuer, the issuer of
// the certificates it is for, issued and signed it, that it was issued by
// now, and that it has no critical extension that changes its meaning. It
// does not check that it is current. A nil der returns nil and no error.
func verifyCRL(der []byte, issuer *x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	if der == nil {
		return nil, nil
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("invalid CRL: %w", err)
	}

	// Indirect CRLs, issued by another entity than the CA, are not
	// supported, so the CRL issuer must be the certificate issuer.
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("the CRL is issued by %q, not by the issuer of the certificate %q; indirect CRLs are not supported",
			crl.Issuer.String(), issuer.Subject.String())
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the signature of the CRL does not verify with the key of %q: %w", issuer.Subject.String(), err)
	}
	if crl.ThisUpdate.After(now) {
		return nil, fmt.Errorf("the CRL has a ThisUpdate of %s, which is in the future; check the system clock",
			crl.ThisUpdate.UTC().Format(time.RFC3339))
	}

	// RFC 5280 makes a CRL with a critical extension that is not understood
	// unusable. Among such extensions are the issuing distribution point,
	// which limits the scope of the CRL, the delta CRL indicator and, on an
	// entry, the certificate issuer of an indirect CRL.
	// TODO: read the issuing distribution point, which some CAs set.
	for _, ext := range crl.Extensions {
		if ext.Critical && !ext.Id.Equal(oidAuthorityKeyID) && !ext.Id.Equal(oidCRLNumber) {
			return nil, fmt.Errorf("the CRL has the critical extension %s, which sealmail does not support", ext.Id)
		}
	}
	for _, entry := range crl.RevokedCertificateEntries {
		for _, ext := range entry.Extensions {
			if ext.Critical && !ext.Id.Equal(oidReasonCode) && !ext.Id.Equal(oidInvalidityDate) {
				return nil, fmt.Errorf("the CRL entry of serial number %s has the critical extension %s, which sealmail does not support",
					entry.SerialNumber, ext.Id)
			}
		}
	}
	return crl, nil
}
