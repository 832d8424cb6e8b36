package director

import "errors"

// The director's vocabulary in one place, as go-zookeeper's constants.go
// keeps its own: its sentinel errors and the texts of the answers it
// makes itself (RpbErrorResp on PB, plain text on HTTP). Every text
// starts with "director: "; clients may match the prefix of msgNoNode.

// ErrProxyClosed is returned by Serve after Shutdown or Close.
var ErrProxyClosed = errors.New("director: proxy closed")

var (
	// errPoolClosed: the node was removed (or the proxy shut down) while a
	// request was choosing it. Not the node's fault.
	errPoolClosed = errors.New("director: node removed")
	// errBodyDetached: a request body view read after its attempt was
	// given up.
	errBodyDetached = errors.New("director: request body taken over by a retry")
	// errBodyConsumed: an attempt found the request body partly read by
	// an earlier one, so the request cannot be sent again.
	errBodyConsumed = errors.New("director: request body consumed by an earlier attempt")
)

// Texts of the director's own answers.
const (
	msgNoNode       = "director: no available Riak node"
	msgShuttingDown = "director: shutting down"
	msgReadingBody  = "director: reading the request body: " // + the error
)
