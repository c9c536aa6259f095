// Package testcert makes TLS certificates for tests: self-signed server
// certificates, which are also authorities, and certificates they issue.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Cert is a key and a self-signed server certificate for it.
type Cert struct {
	// X509 is the certificate, which a client trusts by adding it to its
	// root pool.
	X509 *x509.Certificate
	// Key is the certificate's private key.
	Key crypto.Signer
	// CertPEM and KeyPEM are the certificate and its key (PKCS #8) in PEM,
	// as a server reads them from files.
	CertPEM, KeyPEM []byte
}

// New returns a certificate with serial for hosts, DNS names or IP
// addresses (the first is also its common name), valid from an hour ago
// for two hours, signed by itself with key; a nil key is a new P-256 ECDSA
// key.
func New(t testing.TB, key crypto.Signer, serial int64, hosts ...string) *Cert {
	t.Helper()
	return create(t, key, serial, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, hosts...)
}

// NewCA returns a self-signed certificate authority named name with a new
// P-256 key, unrestricted in what it may sign (no extended key usage), for
// Issue: OpenSSL, as PostgreSQL uses it, refuses client certificates from
// an authority restricted to server certificates, as New's are.
func NewCA(t testing.TB, serial int64, name string) *Cert {
	t.Helper()
	return create(t, nil, serial, nil, nil, name)
}

// Issue returns a certificate with serial for names, signed by c as a
// certificate authority, with a new P-256 key: a server certificate for
// hosts (DNS names or IP addresses), or with usage
// x509.ExtKeyUsageClientAuth a client certificate whose common name is
// names[0], as PostgreSQL's certificate authentication reads the user
// name from it. It is not itself an authority.
func (c *Cert) Issue(t testing.TB, serial int64, usage x509.ExtKeyUsage, names ...string) *Cert {
	t.Helper()
	return create(t, nil, serial, c, []x509.ExtKeyUsage{usage}, names...)
}

// create makes a certificate for hosts with key (a new P-256 key when
// nil) and the extended key usages usages, signed by ca, or by itself as
// an authority when ca is nil.
func create(t testing.TB, key crypto.Signer, serial int64, ca *Cert, usages []x509.ExtKeyUsage, hosts ...string) *Cert {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           usages,
		BasicConstraintsValid: true,
		IsCA:                  ca == nil,
	}
	if ca != nil {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		// An RSA key may also be offered for RSA key exchange.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if len(usages) > 0 && usages[0] == x509.ExtKeyUsageServerAuth {
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.X509, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{
		X509:    parsed,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// TLS returns the certificate and key as a server's tls.Config holds them.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.X509.Raw}, PrivateKey: c.Key, Leaf: c.X509}
}

// Pool returns a pool of roots that trusts the certificate.
func (c *Cert) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.X509)
	return pool
}
