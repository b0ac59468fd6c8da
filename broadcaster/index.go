package broadcaster

import (
	"net/http"

	"github.com/arenacast/arenacast/protocol"
)

// indexBody is GET / on a node: what it is and where its endpoints are, so
// that a browser or curl pointed at the bare address learns where to go
// instead of meeting a 404.
const indexBody = `{"service":"arenacast","protocol":1,` +
	`"endpoints":{` +
	`"GET /events/":"WebSocket; Server-Sent Events with Accept: text/event-stream",` +
	`"POST /events/ticket":"a short-lived SSE ticket for a bearer token",` +
	`"POST /publish":"publish an event (publisher credential)",` +
	`"POST /revoke":"revoke sessions or a grant (publisher credential)",` +
	`"GET /presence":"who is connected, per contest, across nodes (publisher credential, or ?contest= and a token of its admin)",` +
	`"GET /healthz":"200 while the process runs",` +
	`"GET /readyz":"200 when the node can serve clients (for load balancers)"},` +
	`"docs":"docs/protocol.md and docs/operations.md in the Arenacast repository"}` + "\n"

// serveIndex answers GET / (the exact path; others stay 404).
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use GET")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(indexBody))
}
