package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"tenantgraph/ent"
	"tenantgraph/internal/account"
	"tenantgraph/internal/apperr"
	"tenantgraph/internal/metrics"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/projects"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/tenancy"
)

// Deps is what the GraphQL handler needs.
type Deps struct {
	Client   *ent.Client
	Accounts *account.Service
	Sessions *tenancy.Resolver
	Logger   *slog.Logger
	// Notifier writes notifications inside mutations and publishes them
	// after commit through Broker, from which subscriptions read.
	Notifier *notify.Notifier
	Broker   pubsub.Broker
	// WebhookGuard checks Slack webhook URLs when a tenant sets one.
	WebhookGuard notify.WebhookGuard
	// WebsocketOrigins are host patterns (path.Match syntax, such as
	// "localhost:*" or "app.example.com") allowed to open a websocket from
	// another origin. Same-origin upgrades are always allowed.
	WebsocketOrigins []string
	// Introspection enables schema introspection (GraphiQL needs it).
	Introspection bool
	// Limits bound depth, complexity and root fields (zero: DefaultLimits).
	Limits Limits
	// RequestBudget limits operations per user (per client address when
	// anonymous); nil: unlimited.
	RequestBudget account.Limiter
	// DisableSuggestions drops "did you mean" hints from validation errors
	// (they reveal the schema; off in production).
	DisableSuggestions bool
	// ParserTokenLimit bounds the tokens of a query (default 15,000).
	ParserTokenLimit int
	// APQCacheSize is how many Automatic Persisted Queries are remembered
	// (default 1,000; LRU).
	APQCacheSize int
	// PersistedOnly, when set, is the only operations served (by hash); see
	// LoadPersistedManifest.
	PersistedOnly map[string]string
	// MaxSubscriptionsPerConnection caps a websocket's concurrent
	// subscriptions (default 10).
	MaxSubscriptionsPerConnection int
	// MaxConnectionsPerUser caps the websockets one user holds open at
	// once (default 50): past it, connection_init is refused (4403).
	MaxConnectionsPerUser int
	// MaxTenantsPerOwner caps the tenants a user may own when they create
	// one (default 100).
	MaxTenantsPerOwner int
	// WebsocketMessageBytes bounds one websocket message (default 64 KiB).
	WebsocketMessageBytes int64
	// Tracing makes each operation a span, and every resolver under it
	// that may touch the database. Set it when traces are exported
	// (cmd/server: with an OTLP endpoint); without it no span is started,
	// not even a no-op one, which would still cost allocations, and the
	// field hook, which runs for each of a response's thousands of fields,
	// is not installed.
	Tracing bool
	// Metrics records operations, errors, connections and subscriptions
	// (nil: none).
	Metrics *metrics.Metrics
	// WebsocketWriteTimeout bounds one websocket write (default 10s): a
	// client that stops reading is disconnected once its buffers are full.
	WebsocketWriteTimeout time.Duration
	// WebsocketInitTimeout is how long a websocket may go without
	// connection_init before it is closed with 4408 (default 10s).
	WebsocketInitTimeout time.Duration
	// WebsocketPingInterval is how often the server pings a
	// graphql-transport-ws client (default 25s); one that has sent nothing
	// since the previous ping is disconnected.
	WebsocketPingInterval time.Duration
	// WebsocketOperationTimeout bounds a query or mutation sent over a
	// websocket, as REQUEST_TIMEOUT bounds an HTTP request (0: none).
	WebsocketOperationTimeout time.Duration
}

// NewSchema returns the executable schema with its resolvers and directives.
func NewSchema(c Deps) graphql.ExecutableSchema {
	return newSchema(c, newFeedHub(c.Client, c.Logger))
}

func newSchema(c Deps, feed *feedHub) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{
		Resolvers: &Resolver{
			client:     c.Client,
			accounts:   c.Accounts,
			projects:   projects.NewService(c.Notifier),
			members:    tenancy.NewMembers(c.Notifier),
			broker:     c.Broker,
			guard:      c.WebhookGuard,
			metrics:    c.Metrics,
			feed:       feed,
			log:        c.Logger,
			maxTenants: c.MaxTenantsPerOwner,
		},
		Directives: DirectiveRoot{
			HasRole:       hasRole,
			Authenticated: authenticated,
		},
	})
}

// Handler is the GraphQL endpoint (NewHandler).
type Handler struct {
	*handler.Server
	ws   *wsTransport
	feed *feedHub // the live feed's hub (export_test.go's RememberNotifications reaches it)
}

// Drain is for the server's shutdown (internal/server.Serve calls it beside
// http.Server.Shutdown): the websockets, which outlive their upgrade
// requests, stop starting operations and are closed with 1001 once the
// queries and mutations they run have answered. It returns when the
// connections have all ended. When ctx ends first, the queries and
// mutations still running are cancelled: one that commits all the same is
// answered, one that does not (and so wrote nothing) is not, for the client
// to send again elsewhere; a second later the connections left are closed
// whatever runs on them. Without Drain, the http.Server's shutdown still
// drains the websockets, but nothing waits for them.
func (h *Handler) Drain(ctx context.Context) { h.ws.drain(ctx) }

// NewHandler returns the GraphQL endpoint: POST and GET per the
// GraphQL-over-HTTP spec and graphql-transport-ws on the same path, with
// sessions, page limits, one transaction per mutation and the error mapping.
func NewHandler(c Deps) *Handler {
	if c.ParserTokenLimit <= 0 {
		c.ParserTokenLimit = 15_000
	}
	if c.APQCacheSize <= 0 {
		c.APQCacheSize = 1000
	}
	if c.MaxSubscriptionsPerConnection <= 0 {
		c.MaxSubscriptionsPerConnection = 10
	}
	if c.MaxConnectionsPerUser <= 0 {
		c.MaxConnectionsPerUser = 50
	}
	if c.MaxTenantsPerOwner <= 0 {
		c.MaxTenantsPerOwner = 100
	}
	if c.WebsocketMessageBytes <= 0 {
		c.WebsocketMessageBytes = 64 << 10
	}
	if c.WebsocketWriteTimeout <= 0 {
		c.WebsocketWriteTimeout = 10 * time.Second
	}
	if c.WebsocketInitTimeout <= 0 {
		c.WebsocketInitTimeout = 10 * time.Second
	}
	if c.WebsocketPingInterval <= 0 {
		c.WebsocketPingInterval = 25 * time.Second
	}
	feed := newFeedHub(c.Client, c.Logger)
	observe := observeExtension{log: c.Logger, metrics: c.Metrics}
	srv := handler.New(newSchema(c, feed))
	ws := newWSTransport(wsOptions{
		origins:          c.WebsocketOrigins,
		init:             websocketInit(c),
		connContext:      websocketContext,
		recover:          recoverFunc(c.Logger),
		readLimit:        c.WebsocketMessageBytes,
		writeTimeout:     c.WebsocketWriteTimeout,
		initTimeout:      c.WebsocketInitTimeout,
		pingInterval:     c.WebsocketPingInterval,
		operationTimeout: c.WebsocketOperationTimeout,
	})
	srv.AddTransport(ws)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getTransport{})
	srv.AddTransport(postTransport{})
	srv.AddTransport(unsupportedTransport{observe}) // last: whatever the others leave
	srv.SetQueryCache(newQueryCache(queryCacheEntries, queryCacheBytes))
	srv.SetParserTokenLimit(c.ParserTokenLimit)
	srv.SetDisableSuggestion(c.DisableSuggestions)
	if c.DisableSuggestions {
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
	}
	if c.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	if c.PersistedOnly != nil {
		srv.Use(persistedOnly{ops: c.PersistedOnly})
	} else {
		srv.Use(extension.AutomaticPersistedQuery{Cache: apqCache{lru.New[string](c.APQCacheSize)}})
	}
	limits := c.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits
	}
	srv.Use(observe)
	if c.Tracing {
		srv.Use(traceExtension{})
		srv.Use(traceFields{})
	}
	srv.Use(&limitsExtension{Limits: limits})
	srv.Use(sessionExtension{client: c.Client, resolver: c.Sessions, log: c.Logger, budget: c.RequestBudget})
	// After the session: their errors are the caller's to see only once
	// authenticated and allowed every field (refuseArguments).
	srv.Use(inputBounds{})
	srv.Use(pageLimits{})
	srv.Use(loaderExtension{client: c.Client})
	srv.Use(deferSupport{})
	srv.Use(txExtension{client: c.Client, notifier: c.Notifier, feed: feed, log: c.Logger})
	srv.SetErrorPresenter(errorPresenter(c.Logger, !c.DisableSuggestions))
	srv.SetRecoverFunc(recoverFunc(c.Logger))
	return &Handler{Server: srv, ws: ws, feed: feed}
}

// websocketInit authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer …", "X-Tenant-Slug": "…"}): a bad or missing
// token, an unknown tenant or a non-member closes the socket with 4403. The
// connection is closed, and its operations end, when the token expires.
func websocketInit(c Deps) func(context.Context, map[string]any) (wsSession, error) {
	// Each open socket keeps its subscriptions and their queries for as
	// long as the token lives (a day), and anyone can register and create
	// a tenant to be a member of: one user may hold only so many.
	open := &openSockets{perKey: newPerKey[uint32](c.MaxConnectionsPerUser), metrics: c.Metrics}
	return func(ctx context.Context, p map[string]any) (wsSession, error) {
		cred := tenancy.Credentials{
			Authorization: payloadString(p, "Authorization"),
			TenantID:      payloadString(p, "X-Tenant-ID"),
			TenantSlug:    payloadString(p, "X-Tenant-Slug"),
			ClientAddr:    tenancy.CredentialsFrom(ctx).ClientAddr, // from the upgrade request
		}
		s, err := c.Sessions.Resolve(ctx, c.Client, cred)
		if err = asCancelled(ctx, err); err != nil && apperr.KindOf(err) == apperr.Internal {
			c.Logger.ErrorContext(ctx, "resolving websocket session", "error", err.Error())
		}
		switch {
		case err != nil && apperr.KindOf(err) == apperr.Internal:
			return wsSession{}, errInitFailed // not a refusal: the client is to retry
		case err != nil:
			return wsSession{}, errors.New("forbidden: " + codedError(err).Message)
		case !s.Viewer.Authenticated():
			return wsSession{}, errors.New("forbidden: connection_init needs an Authorization token")
		case !time.Now().Before(s.TokenExpiry):
			// Verify allows a few seconds of clock skew, but a connection
			// lives until the token's own expiry. Acknowledged, it would be
			// closed at once, and graphql-ws, having connected, would retry
			// at once with the same token, until the skew ran out.
			return wsSession{}, errors.New("forbidden: the token has expired")
		case !s.Viewer.Member():
			return wsSession{}, errors.New("forbidden: not a member of this tenant")
		case !open.take(userKey(s.Viewer.UserID)):
			return wsSession{}, fmt.Errorf("forbidden: this user already has %d websocket connections open, the most allowed", open.most)
		}
		// The operations resolve their sessions from the token's user and
		// expiry (the role is read again for each), not from the token.
		ctx = withSubscriptionCap(tenancy.WithCredentials(ctx, cred.Verified(s)), c.MaxSubscriptionsPerConnection)
		c.Metrics.Connections(+1)
		user := userKey(s.Viewer.UserID)
		return wsSession{ctx: ctx, expires: s.TokenExpiry, release: func() { open.release(user) }}, nil
	}
}

// openSockets counts each user's acknowledged websockets. It is kept
// small: an idle subscriber's memory is a published target (under 20 KB),
// and ten thousand subscribers are ten thousand users here. So a user is
// known by the low 32 bits of their ID (userKey), and the release that
// each connection keeps holds this and that key alone.
type openSockets struct {
	*perKey[uint32]
	metrics *metrics.Metrics
}

func (o *openSockets) release(user uint32) {
	o.metrics.Connections(-1)
	o.give(user)
}

// userKey is a user's sequence number within the users' global ID range
// (internal/globalid: the range is the high 32 bits), which tells users
// apart below four billion of them.
func userKey(id int) uint32 { return uint32(id) }

// websocketContext is what a websocket connection keeps of its upgrade
// request's context: the client's address (for rate limits), not the
// request's context chain (net/http's values and cancellations, the
// middleware's), which it would hold for its whole life and walk on every
// lookup of a value, nor the request's headers: the connection
// authenticates with connection_init's payload, and keeps no token.
func websocketContext(r *http.Request) context.Context {
	return tenancy.WithCredentials(context.Background(), tenancy.Credentials{ClientAddr: tenancy.CredentialsFrom(r.Context()).ClientAddr})
}

// payloadString reads a connection_init key case-insensitively.
func payloadString(p map[string]any, key string) string {
	for k, v := range p {
		if strings.EqualFold(k, key) {
			if s, ok := v.(string); ok {
				return s
			}
		}
	}
	return ""
}
