package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a small SMTP server on 127.0.0.1 that sends the replies a
// test configures and records every command, to check what the client sends
// and how it classifies replies. It complements mailpit, which checks the
// real protocol.
type fakeServer struct {
	addr string
	// tlsConfig is the server's TLS configuration; nil means no TLS.
	tlsConfig *tls.Config
	// implicit starts TLS before the greeting.
	implicit bool
	// offerSTARTTLS adds STARTTLS to the EHLO reply before TLS.
	offerSTARTTLS bool
	// auth is the AUTH line of the EHLO reply, such as "PLAIN LOGIN", or
	// "" for none. authBeforeTLS offers it before TLS too.
	auth          string
	authBeforeTLS bool
	// replies overrides the reply to a command, keyed by its verb ("MAIL",
	// "AUTH", "DATA", "END" for the final dot) or by the full RCPT line.
	replies map[string]string
	// dropAfterData closes the connection after the final dot, without a
	// reply.
	dropAfterData bool
	// dataReceived, when not nil, receives a value after each final dot,
	// and the reply to it waits endDelay.
	dataReceived chan struct{}
	endDelay     time.Duration
	// connected, when not nil, receives a value for each connection.
	connected chan struct{}
	// silent sends no greeting, stallEnd no reply to the final dot and
	// stallQuit no reply to QUIT: the server waits for the client to
	// close the connection instead.
	silent, stallEnd, stallQuit bool

	mu       sync.Mutex
	commands []string // each with "tls " in front once TLS is up
	messages []string
	// ends are the times the final dots of the messages arrived.
	ends []time.Time
}

func startFake(t *testing.T, f *fakeServer) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				f.serve(conn)
			}()
		}
	}()
	return f
}

// port returns the port of the fake server.
func (f *fakeServer) port(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(f.addr)
	var n int
	fmt.Sscan(port, &n)
	return n
}

func (f *fakeServer) record(secure bool, line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if secure {
		line = "tls " + line
	}
	f.commands = append(f.commands, line)
}

// Commands returns the commands received so far.
func (f *fakeServer) Commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// Ends returns the times the final dots of the accepted messages arrived.
func (f *fakeServer) Ends() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.ends...)
}

// Messages returns the message data accepted so far.
func (f *fakeServer) Messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.messages...)
}

func (f *fakeServer) serve(conn net.Conn) {
	secure := false
	if f.implicit {
		tlsConn := tls.Server(conn, f.tlsConfig)
		if err := tlsConn.Handshake(); err != nil {
			return
		}
		conn, secure = tlsConn, true
	}
	r := bufio.NewReader(conn)
	reply := func(s string) { fmt.Fprintf(conn, "%s\r\n", s) }
	// stall waits until the client closes the connection.
	stall := func() { io.Copy(io.Discard, r) }

	if f.connected != nil {
		f.connected <- struct{}{}
	}
	if f.silent {
		stall()
		return
	}
	reply("220 fake.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		f.record(secure, line)
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		if override, ok := f.replies[line]; ok {
			reply(override)
			continue
		}
		if override, ok := f.replies[verb]; ok {
			reply(override)
			continue
		}

		switch verb {
		case "EHLO":
			lines := []string{"250-fake.test", "250-PIPELINING"}
			if !secure && f.offerSTARTTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if f.auth != "" && (secure || f.authBeforeTLS) {
				lines = append(lines, "250-AUTH "+f.auth)
			}
			lines = append(lines, "250 8BITMIME")
			for _, l := range lines {
				reply(l)
			}
		case "STARTTLS":
			reply("220 2.0.0 Ready to start TLS")
			tlsConn := tls.Server(conn, f.tlsConfig)
			if err := tlsConn.Handshake(); err != nil {
				return
			}
			conn, secure = tlsConn, true
			r = bufio.NewReader(conn)
		case "AUTH":
			if strings.ToUpper(line) == "AUTH LOGIN" {
				reply("334 VXNlcm5hbWU6")
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				reply("334 UGFzc3dvcmQ6")
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
			reply("235 2.7.0 Authentication successful")
		case "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 2.0.0 Ok")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			end := time.Now()
			f.record(secure, "<data>")
			if f.dropAfterData {
				return
			}
			if f.stallEnd {
				if f.dataReceived != nil {
					f.dataReceived <- struct{}{}
				}
				stall()
				return
			}
			if f.dataReceived != nil {
				f.dataReceived <- struct{}{}
				time.Sleep(f.endDelay)
			}
			if override, ok := f.replies["END"]; ok {
				reply(override)
				continue
			}
			f.mu.Lock()
			f.messages = append(f.messages, data.String())
			f.ends = append(f.ends, end)
			f.mu.Unlock()
			reply("250 Ok 0100018f-fake-queue-id-000000")
		case "QUIT":
			if f.stallQuit {
				stall()
				return
			}
			reply("221 2.0.0 Bye")
			return
		default:
			reply("502 5.5.2 Command not recognized")
		}
	}
}
