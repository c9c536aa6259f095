package custodian

import "context"

// Anonymous is the actor recorded for changes made without a signed-in user.
const Anonymous = "anonymous"

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
