package custodian

import "context"

// Every value the package carries in a context is declared in this file:
// each has an unexported key of its own, so no other package can read or
// replace it except through the functions here, and a With function to
// set it and a From function to read it.

// contextKey keys one value of type T that a context carries; each value
// has a key with a name of its own.
type contextKey[T any] struct{ name string }

// with returns a context carrying v under k.
func (k contextKey[T]) with(ctx context.Context, v T) context.Context {
	return context.WithValue(ctx, k, v)
}

// from returns the value ctx carries under k, or T's zero value.
func (k contextKey[T]) from(ctx context.Context) T {
	v, _ := ctx.Value(k).(T)
	return v
}

// Anonymous is the actor recorded for changes made without a signed-in user.
const Anonymous = "anonymous"

// actorKey keys the actor: the pseudonymous id of the user responsible for
// the changes made with the context, recorded in the audit trail and as
// the creator or last editor of a record.
var actorKey = contextKey[string]{"actor"}

// WithActor returns a context that records actor (a pseudonymous user id)
// as the one responsible for changes made with it.
func WithActor(ctx context.Context, actor string) context.Context {
	return actorKey.with(ctx, actor)
}

// ActorFrom returns the actor recorded in ctx, or Anonymous.
func ActorFrom(ctx context.Context) string {
	if a := actorKey.from(ctx); a != "" {
		return a
	}
	return Anonymous
}

// principalKey keys the authenticated caller of the request, which the
// transport's authentication sets and permission checks and the account
// routes read.
var principalKey = contextKey[*Principal]{"principal"}

// WithPrincipal returns a context carrying p, and p's user as the actor.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return WithActor(principalKey.with(ctx, p), p.User.ID)
}

// PrincipalFrom returns the caller of the request ctx belongs to, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	return principalKey.from(ctx)
}

// purposeKey keys the purpose: why the caller accesses personal data,
// recorded with read and export events so that the access log can answer
// who looked at a customer and why.
var purposeKey = contextKey[string]{"purpose"}

// WithPurpose returns a context carrying why the caller accesses data (the
// Custodian-Purpose request header), recorded with read and export events.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return purposeKey.with(ctx, purpose)
}

// PurposeFrom returns the purpose ctx carries, or "".
func PurposeFrom(ctx context.Context) string {
	return purposeKey.from(ctx)
}

// originKey keys the Origin: where the request came from (client address
// and request id), recorded with the audit events it causes.
var originKey = contextKey[Origin]{"origin"}

// WithOrigin returns a context carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return originKey.with(ctx, o)
}

// OriginFrom returns the origin carried by ctx, or the zero Origin (a
// change made from the command line or by the server itself).
func OriginFrom(ctx context.Context) Origin {
	return originKey.from(ctx)
}
