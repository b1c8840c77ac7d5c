// Package wkdtest runs a Web Key Directory for tests. It has a certificate
// authority of its own and an HTTPS server on 127.0.0.1 that serves every
// host name. Its HTTP CONNECT proxy on 127.0.0.1 sends every connection to
// that server, whatever host the client requested.
//
// Nothing here connects anywhere but 127.0.0.1, so a client that uses the
// proxy, or the server's DialContext, never leaves the machine.
package wkdtest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// CA is a certificate authority that issues server certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA certificate named commonName, valid for a
// day.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

// PEM returns the CA certificate in PEM form, as SSL_CERT_FILE takes it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Pool returns a pool that contains only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// Issue returns a server certificate for the DNS names, with its key.
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Server is an HTTPS server on 127.0.0.1 that serves every host name.
// It serves what Publish and Route registered, by host and path, and 404
// Not Found for everything else.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	requests []string
}

// StartServer starts a Server that presents cert to every client.
func StartServer(cert tls.Certificate) *Server {
	s := &Server{routes: make(map[string]http.HandlerFunc)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.StartTLS()
	return s
}

// routeKey returns the key of routes for a host and a path.
func routeKey(host, path string) string {
	return host + path
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	s.mu.Lock()
	s.requests = append(s.requests, "https://"+host+r.URL.RequestURI())
	handler := s.routes[routeKey(host, r.URL.Path)]
	s.mu.Unlock()

	if handler == nil {
		http.NotFound(w, r)
		return
	}
	handler(w, r)
}

// Route makes handler serve the requests for the host and path of rawURL,
// whatever their query.
func (s *Server) Route(rawURL string, handler http.HandlerFunc) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[routeKey(u.Hostname(), u.Path)] = handler
	return nil
}

// Publish makes the server return key for the host and path of rawURL, as
// application/octet-stream.
func (s *Server) Publish(rawURL string, key []byte) error {
	return s.Route(rawURL, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(key)
	})
}

// Unpublish removes what Publish or Route registered for rawURL.
func (s *Server) Unpublish(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.routes, routeKey(u.Hostname(), u.Path))
	return nil
}

// Requests returns the URLs requested so far, with the host name the client
// sent and without the port.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// DialContext returns a dial function for an http.Transport that connects
// to the server for every address, except that a host in missing fails as
// a name that does not exist.
func (s *Server) DialContext(missing ...string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	target := s.Listener.Addr().String()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		for _, name := range missing {
			if host == name {
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{
					Err: "no such host", Name: host, IsNotFound: true,
				}}
			}
		}
		var dialer net.Dialer
		return dialer.DialContext(ctx, "tcp", target)
	}
}

// Proxy is an HTTP proxy on 127.0.0.1 that tunnels every CONNECT request to
// one target address, and rejects other requests.
type Proxy struct {
	// URL is the proxy's URL, for HTTPS_PROXY.
	URL string

	listener net.Listener
	target   string
	wg       sync.WaitGroup

	mu       sync.Mutex
	refused  map[string]bool
	requests []string
	conns    map[net.Conn]bool
	closed   bool
}

// StartProxy starts a Proxy that tunnels to target, such as the address of
// a Server's listener.
func StartProxy(target string) (*Proxy, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		URL:      "http://" + listener.Addr().String(),
		listener: listener,
		target:   target,
		refused:  make(map[string]bool),
		conns:    make(map[net.Conn]bool),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Refuse makes the proxy reject CONNECT requests for host with 502 Bad
// Gateway, as a proxy does when the name does not resolve.
func (p *Proxy) Refuse(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused[host] = true
}

// Requests returns the "host:port" of every CONNECT request so far.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.listener.Close()
	p.mu.Lock()
	p.closed = true
	for conn := range p.conns {
		conn.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return
		}
		if !p.track(conn, true) {
			conn.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(conn, false)
			p.handle(conn)
		}()
	}
}

// track adds or removes conn from the open connections, and reports false
// when the proxy is closing.
func (p *Proxy) track(conn net.Conn, open bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !open {
		delete(p.conns, conn)
		return true
	}
	if p.closed {
		return false
	}
	p.conns[conn] = true
	return true
}

func (p *Proxy) handle(conn net.Conn) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	if req.Method != http.MethodConnect {
		fmt.Fprint(conn, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}

	host, _, err := net.SplitHostPort(req.Host)
	if err != nil {
		host = req.Host
	}
	p.mu.Lock()
	p.requests = append(p.requests, req.Host)
	refused := p.refused[host]
	p.mu.Unlock()
	if refused {
		fmt.Fprint(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}

	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		fmt.Fprint(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	defer upstream.Close()
	if !p.track(upstream, true) {
		return
	}
	defer p.track(upstream, false)
	fmt.Fprint(conn, "HTTP/1.1 200 Connection established\r\n\r\n")

	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, conn)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(conn, upstream)
		done <- struct{}{}
	}()
	<-done
}
