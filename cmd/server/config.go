package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"tenantgraph/internal/database"
	"tenantgraph/internal/notify"
	"tenantgraph/internal/server"
)

// config is every setting of the server, read once from the environment.
type config struct {
	Env              string        // APP_ENV: "development" (default) or "production"
	Addr             string        // LISTEN_ADDR, default ":8080"
	DatabaseURL      string        // DATABASE_URL: empty for the embedded SQLite file
	JWTSecret        []byte        // JWT_SECRET, at least 32 bytes
	JWTSecretRandom  bool          // true when JWT_SECRET was unset and one was generated
	JWTIssuer        string        // JWT_ISSUER, default "tenantgraph"
	JWTAudience      string        // JWT_AUDIENCE, default "tenantgraph-api"
	TokenTTL         time.Duration // TOKEN_TTL, default 24h
	WebsocketOrigins []string      // WS_ALLOWED_ORIGINS, comma-separated host patterns
	BcryptCost       int           // BCRYPT_COST, default 10, 4 to 16
	SeedDemo         bool          // SEED_DEMO=1 or the -demo flag
	ShutdownGrace    time.Duration // SHUTDOWN_GRACE, default 15s
	SMTPURL          string        // SMTP_URL: send EMAIL notifications through this server (else they are logged)
	WebhookLoopback  bool          // WEBHOOK_ALLOW_LOOPBACK=1: let Slack webhooks point at 127.0.0.1 (tests, local demos)
	OutboxAttempts   int           // OUTBOX_MAX_ATTEMPTS, default 10
	Retention        time.Duration // NOTIFICATION_RETENTION: delete in-app notifications older than this (0, the default: keep them)
	TrustProxy       bool          // TRUST_PROXY=1: client address from X-Forwarded-For
	LoginPerAccount  float64       // LOGIN_RATE_PER_ACCOUNT: login attempts a minute per account (10; 0 disables)
	LoginPerAddress  float64       // LOGIN_RATE_PER_ADDRESS: login attempts a minute per client address (60)
	RequestsPerUser  float64       // REQUEST_RATE_PER_USER: operations a minute per user or anonymous address (1200)
	Introspection    bool          // INTROSPECTION: default on, off when APP_ENV=production
	GraphiQL         bool          // GRAPHIQL: default on, off when APP_ENV=production
	CORSOrigins      []string      // CORS_ALLOWED_ORIGINS: comma-separated origins (none: same-origin only)
	MaxBodyBytes     int64         // MAX_BODY_BYTES, default 1 MiB
	RequestTimeout   time.Duration // REQUEST_TIMEOUT, default 10s
	MaxDepth         int           // QUERY_MAX_DEPTH, default 15
	MaxComplexity    int           // QUERY_MAX_COMPLEXITY, default 250000
	MaxRootFields    int           // QUERY_MAX_ROOT_FIELDS, default 50
	PersistedQueries string        // PERSISTED_QUERIES: a manifest file; when set, only its operations are served
	WSMaxSubs        int           // WS_MAX_SUBSCRIPTIONS: per connection, default 10
	WSMaxConns       int           // WS_MAX_CONNECTIONS: open websockets per user, default 50
	MaxTenants       int           // MAX_TENANTS_PER_OWNER: tenants a user may own when creating one, default 100
	OTLPEndpoint     string        // OTEL_EXPORTER_OTLP_ENDPOINT: export traces over OTLP/HTTP (off when unset)
	MigrateOnStart   bool          // MIGRATE_ON_START=1: PostgreSQL: apply pending migrations before serving
	PreparedStmts    int           // DATABASE_PREPARED_STATEMENTS: statements kept prepared per PostgreSQL connection (256; 0: none)
}

func (c config) production() bool { return c.Env == "production" }

// The accepted BCRYPT_COST, and the least JWT_SECRET (HS256 with a short
// key is guessable; auth.NewTokens refuses it too, but only after the
// database has been opened and migrated).
const (
	minBcryptCost     = 4 // bcrypt.MinCost
	maxBcryptCost     = 16
	minJWTSecretBytes = 32
)

// errDemoInProduction refuses demo accounts in production: one per role,
// OWNER included, whose passwords the start prints to its standard output
// (a container's logs).
var errDemoInProduction = errors.New("SEED_DEMO and -demo are for local try-outs: demo accounts, an OWNER's among them, with their passwords printed to the logs, are refused when APP_ENV=production")

// loadConfig reads the environment. It refuses an APP_ENV other than
// development and production, a production start without a JWT secret, a
// JWT secret under 32 bytes and a BCRYPT_COST outside 4 to 16, before
// anything is opened.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Env:         orDefault(getenv("APP_ENV"), "development"),
		Addr:        orDefault(getenv("LISTEN_ADDR"), ":8080"),
		DatabaseURL: getenv("DATABASE_URL"),
		JWTIssuer:   orDefault(getenv("JWT_ISSUER"), "tenantgraph"),
		JWTAudience: orDefault(getenv("JWT_AUDIENCE"), "tenantgraph-api"),
		SMTPURL:     getenv("SMTP_URL"),
	}
	// Only the exact word "production" turns the production safeguards on, so
	// a misspelling ("Production", "prod") must stop the start rather than
	// quietly serve with them off.
	if c.Env != "development" && c.Env != "production" {
		return c, fmt.Errorf("APP_ENV: %q is not an environment: use development (the default when unset) or production", c.Env)
	}
	// Checked here, before the database is made: the listener is opened
	// only once the schema is ready.
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("LISTEN_ADDR: %q is not host:port or :port (%v)", c.Addr, err)
	}
	var err error
	// A switch must be on or off: a value that is neither (TRUST_PROXY=enabled)
	// would otherwise quietly read as off.
	for _, b := range []struct {
		key string
		dst *bool
		def bool
	}{
		{"SEED_DEMO", &c.SeedDemo, false},
		{"WEBHOOK_ALLOW_LOOPBACK", &c.WebhookLoopback, false},
		{"TRUST_PROXY", &c.TrustProxy, false},
		{"INTROSPECTION", &c.Introspection, !c.production()},
		{"GRAPHIQL", &c.GraphiQL, !c.production()},
		{"MIGRATE_ON_START", &c.MigrateOnStart, false},
	} {
		if *b.dst, err = boolSetting(getenv(b.key), b.def); err != nil {
			return c, fmt.Errorf("%s: %w", b.key, err)
		}
	}
	if c.TokenTTL, err = duration(getenv, "TOKEN_TTL", 24*time.Hour); err != nil {
		return c, err
	}
	if c.ShutdownGrace, err = duration(getenv, "SHUTDOWN_GRACE", 15*time.Second); err != nil {
		return c, err
	}
	// Each step of the cost doubles the time of a hash: about 60 ms at 10,
	// several seconds at 16, a minute at 20, days at 31 (bcrypt's own
	// ceiling), and the start hashes once before it serves. Above 16 one
	// login nears the default request timeout and a few at once hold every
	// core, so such a cost is a mistake to say at once, not one to find in
	// a start that hangs without a word.
	c.BcryptCost = 10
	if v := getenv("BCRYPT_COST"); v != "" {
		if c.BcryptCost, err = strconv.Atoi(v); err != nil || c.BcryptCost < minBcryptCost || c.BcryptCost > maxBcryptCost {
			return c, fmt.Errorf("BCRYPT_COST: %q is not a number from %d to %d (each step doubles the time of a hash; 10, the default, takes about 60 ms)", v, minBcryptCost, maxBcryptCost)
		}
	}
	if err := server.CheckGCSettings(getenv); err != nil {
		return c, err
	}
	if c.SMTPURL != "" {
		if _, err := notify.NewSMTPEmail(c.SMTPURL); err != nil {
			return c, err
		}
	}
	c.CORSOrigins = list(getenv("CORS_ALLOWED_ORIGINS"))
	for _, o := range c.CORSOrigins {
		if err := checkCORSOrigin(o); err != nil {
			return c, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err)
		}
	}
	c.PersistedQueries = getenv("PERSISTED_QUERIES")
	c.OTLPEndpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if c.RequestTimeout, err = duration(getenv, "REQUEST_TIMEOUT", 10*time.Second); err != nil {
		return c, err
	}
	for _, n := range []struct {
		key string
		dst *int
		def int
	}{
		{"QUERY_MAX_DEPTH", &c.MaxDepth, 15},
		{"QUERY_MAX_COMPLEXITY", &c.MaxComplexity, 250_000},
		{"QUERY_MAX_ROOT_FIELDS", &c.MaxRootFields, 50},
		{"WS_MAX_SUBSCRIPTIONS", &c.WSMaxSubs, 10},
		{"WS_MAX_CONNECTIONS", &c.WSMaxConns, 50},
		{"MAX_TENANTS_PER_OWNER", &c.MaxTenants, 100},
	} {
		*n.dst = n.def
		if v := getenv(n.key); v != "" {
			if *n.dst, err = strconv.Atoi(v); err != nil || *n.dst < 1 {
				return c, fmt.Errorf("%s: %q is not a positive number", n.key, v)
			}
		}
	}
	c.MaxBodyBytes = 1 << 20
	if v := getenv("MAX_BODY_BYTES"); v != "" {
		if c.MaxBodyBytes, err = strconv.ParseInt(v, 10, 64); err != nil || c.MaxBodyBytes < 1024 {
			return c, fmt.Errorf("MAX_BODY_BYTES: %q is not a number of bytes (at least 1024)", v)
		}
	}
	for _, r := range []struct {
		key string
		dst *float64
		def float64
	}{
		{"LOGIN_RATE_PER_ACCOUNT", &c.LoginPerAccount, 10},
		{"LOGIN_RATE_PER_ADDRESS", &c.LoginPerAddress, 60},
		{"REQUEST_RATE_PER_USER", &c.RequestsPerUser, 1200},
	} {
		*r.dst = r.def
		if v := getenv(r.key); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return c, fmt.Errorf("%s: %q is not a number of events a minute (0 disables)", r.key, v)
			}
			*r.dst = f
		}
	}
	// 0 is a setting here, not a mistake: a pooler in front of
	// PostgreSQL that hands each transaction another server connection
	// (PgBouncer's transaction mode before 1.21) cannot keep prepared
	// statements.
	c.PreparedStmts = database.DefaultPreparedStatements
	if v := getenv("DATABASE_PREPARED_STATEMENTS"); v != "" {
		if c.PreparedStmts, err = strconv.Atoi(v); err != nil || c.PreparedStmts < 0 {
			return c, fmt.Errorf("DATABASE_PREPARED_STATEMENTS: %q is not a number of statements (0 prepares none)", v)
		}
	}
	c.OutboxAttempts = 10
	if v := getenv("OUTBOX_MAX_ATTEMPTS"); v != "" {
		if c.OutboxAttempts, err = strconv.Atoi(v); err != nil || c.OutboxAttempts < 1 {
			return c, fmt.Errorf("OUTBOX_MAX_ATTEMPTS: %q is not a positive number", v)
		}
	}
	if v := getenv("NOTIFICATION_RETENTION"); v != "" && v != "0" {
		if c.Retention, err = duration(getenv, "NOTIFICATION_RETENTION", 0); err != nil {
			return c, err
		}
		if c.Retention < time.Hour {
			return c, fmt.Errorf("NOTIFICATION_RETENTION: %q is under an hour; give an age such as 2160h (90 days), or 0 to keep notifications", v)
		}
	}
	if c.SeedDemo && c.production() {
		return c, errDemoInProduction
	}
	if c.WebhookLoopback && c.production() {
		return c, fmt.Errorf("WEBHOOK_ALLOW_LOOPBACK is for tests and local demos; it is refused when APP_ENV=production")
	}
	c.WebsocketOrigins = list(getenv("WS_ALLOWED_ORIGINS"))
	for _, p := range c.WebsocketOrigins {
		if err := checkWebsocketOrigin(p); err != nil {
			return c, fmt.Errorf("WS_ALLOWED_ORIGINS: %w", err)
		}
	}
	switch secret := getenv("JWT_SECRET"); {
	case secret != "" && len(secret) < minJWTSecretBytes:
		return c, fmt.Errorf("JWT_SECRET is %d bytes; it must be at least %d (for example: openssl rand -base64 48)", len(secret), minJWTSecretBytes)
	case secret != "":
		c.JWTSecret = []byte(secret)
	case c.production():
		return c, fmt.Errorf("JWT_SECRET is required when APP_ENV=production (at least 32 bytes; for example: openssl rand -base64 48)")
	default:
		c.JWTSecret = make([]byte, 48)
		if _, err := rand.Read(c.JWTSecret); err != nil {
			return c, fmt.Errorf("generating a JWT secret: %w", err)
		}
		c.JWTSecretRandom = true
	}
	return c, nil
}

// checkCORSOrigin refuses a CORS_ALLOWED_ORIGINS entry that no browser's
// Origin can match. An Origin is scheme://host[:port], with no path (not
// even "/"), query, fragment or user, and without the scheme's default
// port; rs/cors compares it with each entry as written (ignoring case, a
// "*" standing for any part of a host), so https://app.example.com/ would
// quietly refuse every request from https://app.example.com.
func checkCORSOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an origin such as https://app.example.com", o)
	}
	origin := u.Scheme + "://" + u.Host
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		origin = u.Scheme + "://" + strings.TrimSuffix(u.Host, ":"+port)
	}
	if !strings.EqualFold(o, origin) {
		return fmt.Errorf("%q is not an origin as browsers send it (scheme://host[:port], no path, not even /, no query or fragment, no default port): write %q", o, origin)
	}
	return nil
}

// checkWebsocketOrigin refuses a WS_ALLOWED_ORIGINS pattern that is
// malformed or can match no browser's Origin. The websocket library
// matches each pattern with path.Match against the Origin's host (or, in
// a pattern with "://", against scheme://host) when a cross-origin upgrade
// comes; it refuses the upgrade on a malformed pattern (and on any pattern
// after it), and a pattern with a path (app.example.com/) matches nothing.
func checkWebsocketOrigin(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a host pattern such as app.example.com or localhost:*", p)
	}
	host := p
	if _, h, ok := strings.Cut(p, "://"); ok {
		host = h
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		return fmt.Errorf("%q is not a host pattern: an Origin has no path, not even /: write %q", p, p[:len(p)-len(host)+i])
	}
	return nil
}

func duration(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 24h or 90m", key, v)
	}
	return d, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// list splits a comma-separated setting.
func list(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// boolSetting reads a boolean setting with a default: 1, true, yes or on;
// 0, false, no or off (in any case); empty for the default.
func boolSetting(v string, def bool) (bool, error) {
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is neither 1 (on) nor 0 (off)", v)
}
