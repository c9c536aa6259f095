// Package softkey is a WebAuthn authenticator in software, for tests: it
// answers registration and sign-in ceremonies as a passkey on a phone or a
// security key would (ES256, "none" attestation, a signature counter),
// so that the server's verification runs on real signatures. A key can be
// cloned, counter and all, to play a copied credential.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator flags.
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible
	flagBS = 0x10 // backed up
	flagAT = 0x40 // attested credential data included
)

// Key is one credential of a software authenticator.
type Key struct {
	// Origin is the origin the "browser" reports (https://host:port).
	Origin string
	// RPID is the relying party the credential is bound to.
	RPID       string
	ID         []byte
	UserHandle []byte
	// Counter is the signature counter, incremented before each
	// assertion.
	Counter uint32
	// Synced marks the credential backup eligible and backed up.
	Synced bool
	priv   *ecdsa.PrivateKey
}

// Clone returns a copy of k with the same private key and counter, as a
// stolen credential would be.
func (k *Key) Clone() *Key {
	c := *k
	return &c
}

type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

type requestOptions struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
}

var b64 = base64.RawURLEncoding

// decode reads base64url with or without padding.
func decode(s string) ([]byte, error) {
	if b, err := b64.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// Register answers the creation options (PublicKeyCredentialCreationOptions
// as WebAuthn JSON) at origin with a new credential, returning it and the
// PublicKeyCredential JSON the browser would send.
func Register(options []byte, origin string) (*Key, []byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, fmt.Errorf("softkey: creation options: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	handle, err := decode(o.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("softkey: user id: %w", err)
	}
	k := &Key{Origin: origin, RPID: o.RP.ID, ID: make([]byte, 32), UserHandle: handle, priv: priv}
	_, _ = rand.Read(k.ID)
	pub, err := priv.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: raw[1:33], YCoord: raw[33:65],
	})
	if err != nil {
		return nil, nil, err
	}
	att := make([]byte, 16, 16+2+len(k.ID)+len(cose))           // AAGUID: zeros
	att = binary.BigEndian.AppendUint16(att, uint16(len(k.ID))) // #nosec G115 -- a credential id is 16 to 1,023 bytes (WebAuthn), well inside uint16
	att = append(att, k.ID...)
	att = append(att, cose...)
	authData := k.authData(flagAT, att)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	client := clientData("webauthn.create", o.Challenge, origin)
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(client), "attestationObject": b64.EncodeToString(attObj), "transports": []string{"internal"}},
	})
	return k, out, err
}

// authData is the authenticator data for k's relying party with the
// flags (user present and verified always) and the current counter,
// followed by extra.
func (k *Key) authData(flags byte, extra []byte) []byte {
	flags |= flagUP | flagUV
	if k.Synced {
		flags |= flagBE | flagBS
	}
	h := sha256.Sum256([]byte(k.RPID))
	d := append(h[:], flags)
	d = binary.BigEndian.AppendUint32(d, k.Counter)
	return append(d, extra...)
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false}) // strings always marshal
	return b
}

// Assert answers the request options (PublicKeyCredentialRequestOptions as
// WebAuthn JSON) with k, after incrementing its counter, returning the
// PublicKeyCredential JSON the browser would send.
func (k *Key) Assert(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("softkey: request options: %w", err)
	}
	k.Counter++
	authData := k.authData(0, nil)
	client := clientData("webauthn.get", o.Challenge, k.Origin)
	ch := sha256.Sum256(client)
	digest := sha256.Sum256(append(append([]byte{}, authData...), ch[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(client), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.UserHandle)},
	})
}
