package graph

import (
	"net/http"

	"tenantgraph/ent"
)

// SetFeedEncoder turns the live feed's encoder (feedEncoder) on or off for
// the subscriptions set up from then on; off, the executor writes every
// event, so that a test can compare the two.
func SetFeedEncoder(on bool) { feedEncoderOff.Store(!on) }

// WSPendingPerAddress is how many websockets one address may hold before
// their connection_init is answered.
const WSPendingPerAddress = wsPendingPerAddress

// Draining reports whether h's websockets are draining (the server is
// shutting down).
func Draining(h *Handler) bool {
	h.ws.mu.Lock()
	defer h.ws.mu.Unlock()
	return h.ws.draining
}

// RememberNotifications hands rows just written to h's live feed, as the
// transaction extension does on commit, so that their deliveries push
// them without reading them back. h must be a *Handler.
func RememberNotifications(h http.Handler, rows []*ent.Notification) {
	h.(*Handler).feed.remember(rows)
}
