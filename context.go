package custodian

import "context"

// Every value the package carries in a context is declared in this file:
// each has an unexported key type of its own, so no other package can read
// or replace it except through the functions here, and a With function to
// set it and a From function to read it.

// Anonymous is the actor recorded for changes made without a signed-in user.
const Anonymous = "anonymous"

// actorKey keys the actor: the pseudonymous id (a string) of the user
// responsible for the changes made with the context, recorded in the audit
// trail and as the creator or last editor of a record.
type actorKey struct{}

// WithActor returns a context that records actor (a pseudonymous user id)
// as the one responsible for changes made with it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor recorded in ctx, or Anonymous.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return Anonymous
}

// principalKey keys the *Principal: the authenticated caller of the
// request, which the transport's authentication sets and permission checks
// and the account routes read.
type principalKey struct{}

// WithPrincipal returns a context carrying p, and p's user as the actor.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return WithActor(context.WithValue(ctx, principalKey{}, p), p.User.ID)
}

// PrincipalFrom returns the caller of the request ctx belongs to, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// purposeKey keys the purpose (a string): why the caller accesses personal
// data, recorded with read and export events so that the access log can
// answer who looked at a customer and why.
type purposeKey struct{}

// WithPurpose returns a context carrying why the caller accesses data (the
// Custodian-Purpose request header), recorded with read and export events.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// PurposeFrom returns the purpose ctx carries, or "".
func PurposeFrom(ctx context.Context) string {
	p, _ := ctx.Value(purposeKey{}).(string)
	return p
}

// originKey keys the Origin: where the request came from (client address
// and request id), recorded with the audit events it causes.
type originKey struct{}

// WithOrigin returns a context carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin carried by ctx, or the zero Origin (a
// change made from the command line or by the server itself).
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
