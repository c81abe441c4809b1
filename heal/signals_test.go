package heal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// This file produces real error values for the classification tests. All
// traffic stays on loopback.

// closedPortAddr returns a loopback address that nothing listens on.
func closedPortAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialClosedPort dials a loopback port that nothing listens on.
func dialClosedPort(t *testing.T) error {
	t.Helper()
	addr := closedPortAddr(t)
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s succeeded after its listener closed", addr)
	}
	return err
}

// readAfterReset returns the error of reading from a connection that the
// server aborted with a TCP reset.
func readAfterReset(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		_, _ = c.Read(buf)
		_ = c.(*net.TCPConn).SetLinger(0) // close sends RST instead of FIN
		c.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Read(make([]byte, 64))
	if err == nil {
		t.Fatal("read after reset succeeded")
	}
	return err
}

// stallingServer starts an HTTP server whose handler waits until the
// request's context ends, so clients time out against it.
func stallingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// quietTLS starts srv with TLS and drops its handshake-error log lines,
// which the failing handshakes in these tests cause on purpose.
func quietTLS(srv *httptest.Server) {
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
}

// clientTimeout returns the error of an http.Client whose Timeout passes
// before the server answers: a net.Error with Timeout() true.
func clientTimeout(t *testing.T) error {
	t.Helper()
	srv := stallingServer(t)
	client := &http.Client{Timeout: 20 * time.Millisecond}
	resp, err := client.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request to a stalling server succeeded")
	}
	return err
}

// contextDeadline returns the error of a request whose context deadline
// passes first.
func contextDeadline(t *testing.T) error {
	t.Helper()
	srv := stallingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request past its deadline succeeded")
	}
	return err
}

// lookupInvalid looks up a name under .invalid with Go's resolver, which
// sends the query to a DNS server on loopback that answers with rcode.
// The machine's own resolver forwards queries off the machine, so the test
// never uses it.
func lookupInvalid(t *testing.T, rcode byte) error {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go serveDNS(pc, rcode)
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = resolver.LookupHost(ctx, "api.vendor.invalid.")
	if err == nil {
		t.Fatal("lookup of a name under .invalid succeeded")
	}
	return err
}

// serveDNS answers every query on pc with an empty answer and rcode: 3 is
// NXDOMAIN, 2 is SERVFAIL.
func serveDNS(pc net.PacketConn, rcode byte) {
	buf := make([]byte, 512)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		resp := make([]byte, n)
		copy(resp, buf[:n])
		flags := binary.BigEndian.Uint16(resp[2:4])
		flags |= 0x8000                       // QR: a response
		flags |= 0x0080                       // RA: recursion available
		flags = flags&^0x000F | uint16(rcode) // RCODE
		binary.BigEndian.PutUint16(resp[2:4], flags)
		binary.BigEndian.PutUint16(resp[6:8], 0)   // ANCOUNT
		binary.BigEndian.PutUint16(resp[8:10], 0)  // NSCOUNT
		binary.BigEndian.PutUint16(resp[10:12], 0) // ARCOUNT
		_, _ = pc.WriteTo(resp, addr)
	}
}

// tlsError returns the error of a GET against server with a client that
// trusts roots and asks for serverName (empty means the URL's host).
func tlsError(t *testing.T, server *httptest.Server, roots *x509.CertPool, serverName string) error {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: serverName,
	}}}
	resp, err := client.Get(server.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("TLS request succeeded")
	}
	return err
}

// expiredTLSServer starts a TLS server whose self-signed certificate
// expired a day ago, and returns it with a pool that trusts that
// certificate.
func expiredTLSServer(t *testing.T) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "expired.test"},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	quietTLS(srv)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return srv, pool
}

// statusResponse starts a server that answers with status, header and
// body, calls it without following redirects, and returns the Failure
// built from the response.
func statusResponse(t *testing.T, status int, header http.Header, body string) Failure {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Post(srv.URL+"/api/workflow?token=s3cr3t", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	return FromResponse(resp, nil)
}

func TestRealErrorsHaveExpectedShape(t *testing.T) {
	var dns *net.DNSError
	if err := lookupInvalid(t, 3); !errors.As(err, &dns) || !dns.IsNotFound {
		t.Errorf("NXDOMAIN lookup = %#v, want *net.DNSError with IsNotFound", err)
	}
	if err := lookupInvalid(t, 2); !errors.As(err, &dns) || dns.IsNotFound {
		t.Errorf("SERVFAIL lookup = %#v, want *net.DNSError without IsNotFound", err)
	}
}
