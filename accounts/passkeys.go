package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/token"
	"github.com/custodian-crm/custodian/totp"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
)

// PasskeyConfig is the relying party passkeys are registered to: the
// site's domain (RPID) and the origins browsers show it at. Passkeys are
// off while RPID is empty: a passkey is bound to its domain for good, so
// the server never guesses it from a request's Host header.
type PasskeyConfig struct {
	// RPID is the registrable domain, or the host name, passkeys are
	// bound to ("crm.example.com"). A passkey works on this host and its
	// subdomains only.
	RPID string
	// Origins are the origins the browser reports
	// ("https://crm.example.com", with the port when it is not 443); at
	// least one, each at RPID or a subdomain of it.
	Origins []string
	// DisplayName is what authenticators show for the site (Custodian).
	DisplayName string
}

// PasskeyConfigFor returns the relying party for a server reached at
// publicURL (an https:// URL, or http://localhost for development), or,
// when publicURL is empty, at the first single host name of allowedHosts
// over HTTPS on the default port. Both empty leaves passkeys off (a zero
// config, no error).
func PasskeyConfigFor(publicURL string, allowedHosts []string) (PasskeyConfig, error) {
	if publicURL == "" {
		for _, h := range allowedHosts {
			if h != "" && !strings.HasPrefix(h, ".") {
				publicURL = "https://" + h
				break
			}
		}
	}
	if publicURL == "" {
		return PasskeyConfig{}, nil
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return PasskeyConfig{}, fmt.Errorf("accounts: the public URL %q is not an https://host[:port] address", publicURL)
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && host == "localhost") {
		return PasskeyConfig{}, fmt.Errorf("accounts: the public URL %q must use https (passkeys need a secure origin)", publicURL)
	}
	return PasskeyConfig{RPID: host, Origins: []string{u.Scheme + "://" + u.Host}}, nil
}

// passkeyCeremonyTTL bounds how long a browser may take to answer a
// passkey ceremony: long enough to find a security key or a phone.
const passkeyCeremonyTTL = 5 * time.Minute

// Reasons recorded with failed passkey sign-ins.
const (
	reasonPasskey       = "bad_passkey"
	reasonPasskeyClone  = "cloned_passkey"
	reasonPasskeyNotFor = "passkey_of_another_account"
)

// SettingRequirePasskey names the setting that lists the roles that must
// sign in with a passkey (comma-separated).
const SettingRequirePasskey = "require_passkey_roles"

var (
	errPasskeysOff = custodian.Errorf(custodian.EUNAVAILABLE, "Passkeys are not available: the server's public address is not configured.")
	// errPasskeySignIn is the one answer for any passkey that does not
	// sign in: unknown, of a deactivated user, badly signed or cloned.
	errPasskeySignIn = custodian.Errorf(custodian.EUNAUTHORIZED, "That passkey could not sign you in.")
	errCeremony      = &custodian.Error{Code: custodian.EINVALID, Message: "The passkey request expired or was already used; start again.",
		Fields: []custodian.FieldError{{Field: "ceremony", Message: "Start again: this request is unknown, expired or already answered."}}}
)

// newWebAuthn returns the WebAuthn relying party of cfg, or nil when
// passkeys are off.
func newWebAuthn(cfg PasskeyConfig) (*webauthn.WebAuthn, error) {
	if cfg.RPID == "" {
		if len(cfg.Origins) > 0 {
			return nil, errors.New("accounts: passkey origins without a relying-party id")
		}
		return nil, nil
	}
	name := cfg.DisplayName
	if name == "" {
		name = "Custodian"
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: cfg.RPID, RPDisplayName: name, RPOrigins: cfg.Origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: passkeyCeremonyTTL, TimeoutUVD: passkeyCeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: passkeyCeremonyTTL, TimeoutUVD: passkeyCeremonyTTL},
		}})
	if err != nil {
		return nil, fmt.Errorf("accounts: passkeys: %w", err)
	}
	return wa, nil
}

// passkeyUser is a user as the WebAuthn library sees it. The user handle
// is the user id: random, and no personal data.
type passkeyUser struct {
	u     *custodian.User
	creds []webauthn.Credential
}

// WebAuthnID is the user handle: the user id.
func (p passkeyUser) WebAuthnID() []byte { return []byte(p.u.ID) }

// WebAuthnName is the account's name on the authenticator: the email.
func (p passkeyUser) WebAuthnName() string { return p.u.Email }

// WebAuthnDisplayName is the person's name, shown by the authenticator.
func (p passkeyUser) WebAuthnDisplayName() string { return p.u.Name }

// WebAuthnCredentials are the user's passkeys.
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// credential is the library's record of a stored passkey.
func credential(k custodian.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
	for _, t := range k.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	var aaguid []byte
	if id, err := uuid.Parse(k.AAGUID); err == nil {
		aaguid = id[:]
	}
	return webauthn.Credential{ID: k.CredentialID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, AttestationFormat: k.AttestationFormat,
		Transport:     transports,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: k.UserVerified, BackupEligible: k.BackupEligible, BackupState: k.BackedUp},
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: k.SignCount}}
}

// passkeyUserOf loads a user and their passkeys for the library.
func (s *Service) passkeyUserOf(ctx context.Context, u *custodian.User) (passkeyUser, []custodian.Passkey, error) {
	keys, err := s.repo.ListPasskeys(ctx, u.ID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pu := passkeyUser{u: u}
	for _, k := range keys {
		pu.creds = append(pu.creds, credential(k))
	}
	return pu, keys, nil
}

// PasskeysEnabled reports whether the relying party is configured.
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

// startCeremony stores the library's session data as a ceremony of the
// purpose, and returns what the browser needs: its token and options.
func (s *Service) startCeremony(ctx context.Context, purpose, userID string, options any, session *webauthn.SessionData) (*custodian.PasskeyCeremony, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("passkey ceremony: %w", err)
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("passkey ceremony: %w", err)
	}
	plain, hash, err := token.New(token.PrefixCeremony)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := custodian.Ceremony{Hash: hash, Purpose: purpose, UserID: userID, Data: data, CreatedAt: now, ExpiresAt: now.Add(passkeyCeremonyTTL)}
	if err := s.repo.CreateCeremony(ctx, c); err != nil {
		return nil, err
	}
	return &custodian.PasskeyCeremony{Token: plain, Options: opts, ExpiresAt: c.ExpiresAt}, nil
}

// takeCeremony redeems a ceremony token of the purpose: once, before it
// expires.
func (s *Service) takeCeremony(ctx context.Context, tok, purpose string) (*custodian.Ceremony, *webauthn.SessionData, error) {
	if token.Parse(token.PrefixCeremony, tok) != nil {
		return nil, nil, errCeremony
	}
	c, err := s.repo.TakeCeremony(ctx, token.Hash(tok), purpose, s.now())
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, nil, errCeremony
	}
	if err != nil {
		return nil, nil, err
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(c.Data, &session); err != nil {
		return nil, nil, fmt.Errorf("passkey ceremony: %w", err)
	}
	return c, &session, nil
}

// BeginPasskeyRegistration starts adding a passkey to p's account: a
// discoverable credential (so it can sign in without an email address)
// with user verification, excluding the authenticators already
// registered, after checking the current password, from a browser session
// only. A user whose role requires passkeys and who already has one
// must be signed in with a passkey to add another, so that someone who
// stole a password and a one-time code cannot add their own.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p *custodian.Principal, current string) (*custodian.PasskeyCeremony, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	if err := browserOnly(p); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	if err := s.reauthenticate(ctx, u, current, forPasskey); err != nil {
		return nil, err
	}
	pu, keys, err := s.passkeyUserOf(ctx, &u.User)
	if err != nil {
		return nil, err
	}
	if p.MustUsePasskey && len(keys) > 0 {
		return nil, custodian.Errorf(custodian.EFORBIDDEN, "Sign in with one of your passkeys to add another.")
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range pu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.webauthn.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.startCeremony(ctx, custodian.CeremonyRegister, u.ID, creation.Response, session)
}

// checkPasskeyName trims a passkey's name and checks it: 1 to 100
// characters, no markup or control characters.
func checkPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsAny(name, "<>") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &custodian.Error{Code: custodian.EINVALID, Message: "The passkey has invalid fields.", Fields: []custodian.FieldError{{Field: "name", Message: "A passkey's name is 1 to 100 characters, without < or >."}}}
	}
	return name, nil
}

// FinishPasskeyRegistration verifies the authenticator's answer to a
// registration ceremony of p and stores the passkey, with its
// passkey.registered event. The first passkey of an account without
// two-factor authentication comes with ten recovery codes, since from now
// on a password sign-in asks for a second factor; the first passkey of a
// session confined until it registers one lifts the confinement.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p *custodian.Principal, ceremony, name string, cred json.RawMessage) (*custodian.Passkey, []string, error) {
	if s.webauthn == nil {
		return nil, nil, errPasskeysOff
	}
	if err := browserOnly(p); err != nil {
		return nil, nil, err
	}
	name, err := checkPasskeyName(name)
	if err != nil {
		return nil, nil, err
	}
	c, session, err := s.takeCeremony(ctx, ceremony, custodian.CeremonyRegister)
	if err != nil {
		return nil, nil, err
	}
	if c.UserID != p.User.ID {
		return nil, nil, errCeremony
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return nil, nil, err
	}
	pu, keys, err := s.passkeyUserOf(ctx, &u.User)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(cred)
	if err != nil {
		return nil, nil, badPasskeyAnswer("credential", err)
	}
	wc, err := s.webauthn.CreateCredential(pu, *session, parsed)
	if err != nil {
		return nil, nil, badPasskeyAnswer("credential", err)
	}
	k := &custodian.Passkey{ID: custodian.NewPasskeyID(), UserID: u.ID, Name: name, CredentialID: wc.ID, PublicKey: wc.PublicKey,
		SignCount: wc.Authenticator.SignCount, AAGUID: aaguidString(wc.Authenticator.AAGUID), Transports: []string{},
		AttestationType: wc.AttestationType, AttestationFormat: wc.AttestationFormat, UserVerified: wc.Flags.UserVerified,
		BackupEligible: wc.Flags.BackupEligible, BackedUp: wc.Flags.BackupState, CreatedAt: s.now()}
	for _, t := range wc.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	var codes, hashes []string
	first := len(keys) == 0
	if first && !u.TOTPEnabled {
		if codes, hashes, err = totp.NewRecoveryCodes(totp.DefaultRecoveryCodes); err != nil {
			return nil, nil, err
		}
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: u.ID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.CreatePasskey(ctx, k); err != nil {
			return nil, err
		}
		if hashes != nil {
			if err := s.repo.SetRecoveryCodes(ctx, u.ID, hashes); err != nil {
				return nil, err
			}
		}
		if first && p.SessionHash != nil {
			if err := s.repo.MarkSessionPasskey(ctx, p.SessionHash); err != nil {
				return nil, err
			}
		}
		return []custodian.AuditEntry{event(custodian.ActionPasskeyRegister, u.ID, map[string]any{
			"passkey": k.ID, "aaguid": k.AAGUID, "backup_eligible": k.BackupEligible, "recovery_codes": hashes != nil}, "passkeys")}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return k, codes, nil
}

// badPasskeyAnswer is the refusal of an authenticator's answer that does
// not verify, naming the field it came in. The library's reason goes to
// the error chain (for the log), not to the caller.
func badPasskeyAnswer(field string, err error) error {
	return &custodian.Error{Code: custodian.EINVALID, Message: "The passkey's answer could not be verified.",
		Fields: []custodian.FieldError{{Field: field, Message: "The authenticator's answer could not be verified; try again."}}, Err: err}
}

func aaguidString(b []byte) string {
	id, err := uuid.FromBytes(b)
	if err != nil {
		return uuid.Nil.String()
	}
	return id.String()
}

// ListPasskeys lists a user's passkeys, oldest first.
func (s *Service) ListPasskeys(ctx context.Context, userID string) ([]custodian.Passkey, error) {
	return s.repo.ListPasskeys(ctx, userID)
}

// RenamePasskey renames one of p's passkeys, with a passkey.renamed event.
func (s *Service) RenamePasskey(ctx context.Context, p *custodian.Principal, id, name string) (*custodian.Passkey, error) {
	if err := browserOnly(p); err != nil {
		return nil, err
	}
	name, err := checkPasskeyName(name)
	if err != nil {
		return nil, err
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionPasskeyRename, p.User.ID, map[string]any{"passkey": id}, "name")},
			s.repo.RenamePasskey(ctx, p.User.ID, id, name)
	})
	if err != nil {
		return nil, err
	}
	keys, err := s.repo.ListPasskeys(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == id {
			return &k, nil
		}
	}
	return nil, custodian.Errorf(custodian.ENOTFOUND, "Passkey not found.")
}

// RemovePasskey removes one of p's passkeys, with a passkey.removed
// event. The last passkey of a user whose role requires passkeys cannot
// be removed by the user (an administrator's reset can), nor any passkey
// by a session that did not sign in with one under that requirement.
func (s *Service) RemovePasskey(ctx context.Context, p *custodian.Principal, id string) error {
	if err := browserOnly(p); err != nil {
		return err
	}
	if p.MustUsePasskey {
		return custodian.Errorf(custodian.EFORBIDDEN, "Sign in with a passkey to remove passkeys.")
	}
	keys, err := s.repo.ListPasskeys(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if len(keys) == 1 && keys[0].ID == id {
		if required, err := s.passkeyRequired(ctx, p.User.Role); err != nil {
			return err
		} else if required {
			return custodian.Errorf(custodian.EFORBIDDEN, "Your role requires a passkey: add another before removing this one.")
		}
	}
	last := len(keys) == 1 && keys[0].ID == id
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: p.User.ID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.DeletePasskey(ctx, p.User.ID, id); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionPasskeyRemove, p.User.ID, map[string]any{"passkey": id}, "passkeys")},
			s.dropCodesWithoutSecondFactor(ctx, p.User.ID, last)
	})
}

// dropCodesWithoutSecondFactor drops the user's recovery codes when their
// last passkey went (last) and two-factor authentication is off: nothing
// is left for the codes to stand in for. Callers run it inside Audited.
func (s *Service) dropCodesWithoutSecondFactor(ctx context.Context, userID string, last bool) error {
	if !last {
		return nil
	}
	u, err := s.user(ctx, userID)
	if err != nil || u.TOTPEnabled {
		return err
	}
	return s.repo.SetRecoveryCodes(ctx, userID, nil)
}

// BeginPasskeySignIn starts a sign-in with a passkey: username-less (any
// passkey registered here may answer, and it must verify its user), or,
// with secondFactor, the passkey that confirms a password. Neither names
// an account, so neither tells which accounts exist or have passkeys.
func (s *Service) BeginPasskeySignIn(ctx context.Context, secondFactor bool) (*custodian.PasskeyCeremony, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	purpose, uv := custodian.CeremonySignIn, protocol.VerificationRequired
	if secondFactor {
		purpose, uv = custodian.CeremonySecondFactor, protocol.VerificationPreferred
	}
	assertion, session, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	return s.startCeremony(ctx, purpose, "", assertion.Response, session)
}

// verifyPasskey checks an answer to a sign-in ceremony of the purpose. It
// returns the passkey's user and, when the answer verified, the passkey,
// its new counter and backup state, which are recorded at once: the
// counter moves forward only from the value the check read, so of two
// answers from copies of one credential only one can pass. A counter that
// did not move forward (when either is not zero) is a clone's: refused,
// with reason set for the audit trail.
func (s *Service) verifyPasskey(ctx context.Context, c *custodian.Ceremony, session *webauthn.SessionData, cred json.RawMessage) (u *custodian.UserRecord, k *custodian.Passkey, reason string, err error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(cred)
	if err != nil {
		return nil, nil, reasonPasskey, badPasskeyAnswer("credential", err)
	}
	k, err = s.repo.PasskeyByCredentialID(ctx, parsed.RawID)
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, nil, reasonPasskey, errPasskeySignIn
	}
	if err != nil {
		return nil, nil, "", err
	}
	if u, err = s.user(ctx, k.UserID); err != nil {
		return nil, nil, "", err
	}
	if c.UserID != "" && c.UserID != u.ID {
		return u, nil, reasonPasskeyNotFor, errPasskeySignIn
	}
	handle := parsed.Response.UserHandle
	if len(handle) > 0 && !bytes.Equal(handle, []byte(u.ID)) {
		return u, nil, reasonPasskey, errPasskeySignIn
	}
	pu := passkeyUser{u: &u.User, creds: []webauthn.Credential{credential(*k)}}
	wc, err := s.webauthn.ValidateDiscoverableLogin(func([]byte, []byte) (webauthn.User, error) { return pu, nil }, *session, parsed)
	if err != nil {
		return u, nil, reasonPasskey, &custodian.Error{Code: custodian.EUNAUTHORIZED, Message: errPasskeySignIn.Error(), Err: err}
	}
	if wc.Authenticator.CloneWarning {
		return u, k, reasonPasskeyClone, errPasskeySignIn
	}
	err = s.repo.RecordPasskeyUse(ctx, k.ID, k.SignCount, wc.Authenticator.SignCount, wc.Flags.BackupState, s.now())
	if code := custodian.ErrorCode(err); code == custodian.ECONFLICT || code == custodian.ENOTFOUND {
		return u, k, reasonPasskeyClone, errPasskeySignIn
	}
	if err != nil {
		return nil, nil, "", err
	}
	if !u.Active {
		return u, k, reasonInactive, errPasskeySignIn
	}
	return u, k, "", nil
}

// SignInWithPasskey verifies a username-less sign-in and starts a session
// that proved a passkey, with its auth.signin event (method passkey).
// Every refusal answers alike, and is recorded as auth.signin_failed with
// its reason (cloned_passkey when the signature counter went backwards,
// which the attack detector sees as a failed sign-in). A passkey cannot
// be guessed, so the password lockout does not stop it: an attacker who
// locks an account with wrong passwords does not lock its owner's
// passkeys out; the per-address sign-in limit applies as to every
// attempt.
func (s *Service) SignInWithPasskey(ctx context.Context, in custodian.PasskeySignInRequest) (string, *custodian.User, error) {
	if s.webauthn == nil {
		return "", nil, errPasskeysOff
	}
	c, session, err := s.takeCeremony(ctx, in.Ceremony, custodian.CeremonySignIn)
	if err != nil {
		return "", nil, err
	}
	u, k, reason, err := s.verifyPasskey(ctx, c, session, in.Credential)
	if reason != "" {
		return "", nil, s.passkeyFailed(ctx, u, k, reason, err)
	}
	if err != nil {
		return "", nil, err
	}
	return s.startSession(ctx, u, in.ClientAddr, in.UserAgent, "passkey", true, map[string]any{"passkey": k.ID})
}

// passkeyFailed records a refused passkey sign-in and returns its answer.
func (s *Service) passkeyFailed(ctx context.Context, u *custodian.UserRecord, k *custodian.Passkey, reason string, answer error) error {
	subject, data := "", map[string]any{"reason": reason, "method": "passkey"}
	if u != nil {
		subject = u.ID
	}
	if k != nil {
		data["passkey"] = k.ID
	}
	if err := s.repo.AppendAudit(ctx, event(custodian.ActionSignInFailed, subject, data)); err != nil {
		return err
	}
	return &custodian.SignInError{Account: subject, Err: answer}
}

// startSession starts a session for u after a successful sign-in, with
// its auth.signin event naming the method.
func (s *Service) startSession(ctx context.Context, u *custodian.UserRecord, addr, agent, method string, passkey bool, extra map[string]any) (string, *custodian.User, error) {
	plain, hash, err := token.New(token.PrefixSession)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	se := custodian.Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.AbsoluteTimeout),
		ClientAddr: truncate(addr, 64), UserAgent: truncate(agent, 256), Passkey: passkey}
	data := map[string]any{"method": method}
	for k, v := range extra {
		data[k] = v
	}
	err = s.repo.Audited(custodian.WithActor(ctx, u.ID), func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionSignIn, u.ID, data)}, s.repo.CreateSession(ctx, se)
	})
	if err != nil {
		return "", nil, err
	}
	return plain, &u.User, nil
}

// checkPasskeyFactor checks a passkey that confirms u's password: an
// answer to a second-factor ceremony by one of u's passkeys.
func (s *Service) checkPasskeyFactor(ctx context.Context, u *custodian.UserRecord, ceremony string, cred json.RawMessage) bool {
	if s.webauthn == nil {
		return false
	}
	c, session, err := s.takeCeremony(ctx, ceremony, custodian.CeremonySecondFactor)
	if err != nil {
		return false
	}
	c.UserID = u.ID // the passkey must be u's
	owner, k, reason, err := s.verifyPasskey(ctx, c, session, cred)
	if reason == reasonPasskeyClone && owner != nil {
		_ = s.passkeyFailed(ctx, owner, k, reason, err) // the clone is on the trail; the caller records the failed sign-in
	}
	return err == nil && reason == ""
}

// hasPasskeys reports whether the user has registered a passkey.
func (s *Service) hasPasskeys(ctx context.Context, userID string) (bool, error) {
	keys, err := s.repo.ListPasskeys(ctx, userID)
	return len(keys) > 0, err
}

// RequiredPasskeyRoles returns the roles that must sign in with a passkey.
func (s *Service) RequiredPasskeyRoles(ctx context.Context) ([]custodian.Role, error) {
	return s.rolesSetting(ctx, SettingRequirePasskey)
}

// SetRequiredPasskeyRoles sets the roles that must sign in with a passkey.
// Signed-in users of those roles whose session did not use one can then
// reach only their own account routes: there, those without a passkey
// enrol one.
func (s *Service) SetRequiredPasskeyRoles(ctx context.Context, roles []custodian.Role) error {
	return s.setRolesSetting(ctx, SettingRequirePasskey, roles)
}

// passkeyRequired reports whether role must sign in with a passkey, from
// a setting cached for settingsTTL.
func (s *Service) passkeyRequired(ctx context.Context, role custodian.Role) (bool, error) {
	s.mu.Lock()
	roles, fresh := s.passkeyRoles, s.cfg.Now().Sub(s.passkeyRolesAt) < settingsTTL
	s.mu.Unlock()
	if !fresh {
		var err error
		if roles, err = s.RequiredPasskeyRoles(ctx); err != nil {
			return false, err
		}
		s.mu.Lock()
		s.passkeyRoles, s.passkeyRolesAt = roles, s.cfg.Now()
		s.mu.Unlock()
	}
	return slices.Contains(roles, role), nil
}

// secondFactorNeeded asks for the second factor after a right password,
// naming what the account has. The field is otp either way, so that a
// form knows to show its second step.
func secondFactorNeeded(totpOn, passkeys bool) error {
	msg := "Enter the code from your authenticator app."
	switch {
	case passkeys && totpOn:
		msg = "Confirm with your passkey, or enter the code from your authenticator app."
	case passkeys:
		msg = "Confirm with your passkey, or enter a recovery code."
	}
	return &custodian.Error{Code: custodian.EUNAUTHORIZED, Message: msg, Fields: []custodian.FieldError{{Field: "otp", Message: "A second factor is required."}}}
}

// tokenOwnerHasPasskey reports, for an access token's user whose role
// requires passkeys, whether they have one (the token is confined to
// their account routes until they do); true when the role does not
// require them, which needs no read.
func (s *Service) tokenOwnerHasPasskey(ctx context.Context, u custodian.User) (bool, error) {
	required, err := s.passkeyRequired(ctx, u.Role)
	if err != nil || !required {
		return true, err
	}
	return s.hasPasskeys(ctx, u.ID)
}

// ResetPasskeys removes every passkey of a user (a lost authenticator),
// for an administrator, and ends the user's sessions.
func (s *Service) ResetPasskeys(ctx context.Context, userID string) error {
	if _, err := s.user(ctx, userID); err != nil {
		return err
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.DeletePasskey(ctx, userID, ""); err != nil {
			return nil, err
		}
		if err := s.dropCodesWithoutSecondFactor(ctx, userID, true); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionPasskeyRemove, userID, map[string]any{"passkey": "all", "reset": true}, "passkeys")},
			s.repo.DeleteUserSessions(ctx, userID, nil)
	})
}

// browserOnly refuses a change to p's passkeys made with an access token:
// a token alone must never be enough to give its holder a way to sign in
// as its owner.
func browserOnly(p *custodian.Principal) error {
	if p.SessionHash == nil {
		return custodian.Errorf(custodian.EFORBIDDEN, "Passkeys are managed from a signed-in browser session, not with an access token.")
	}
	return nil
}
