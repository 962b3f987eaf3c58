package demo

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/fasthttp/websocket"
)

// WSEcho starts a WebSocket server on 127.0.0.1 that, on any path, greets
// each connection with a JSON text message describing it, then sends every
// message back with its type (text or binary) until the client closes:
//
//	{"upstream":"chat-1","path":"/room/1","query":"nick=me","subprotocol":"echo.v1","requestId":"…"}
//
// Pings are answered and close frames echoed by the WebSocket library. The
// interval argument is unused; it keeps the signature of the other demo
// servers.
func WSEcho(name string, _ time.Duration) (*Upstream, error) {
	up := websocket.Upgrader{
		Subprotocols:    []string{"echo.v1"}, // a client offering it sees it chosen through the gateway
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade answered the error
		}
		defer c.Close()
		hello, _ := json.Marshal(map[string]string{
			"upstream": name, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
			"subprotocol": c.Subprotocol(), "requestId": r.Header.Get("X-Request-Id"),
		})
		if c.WriteMessage(websocket.TextMessage, hello) != nil {
			return
		}
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})
	return serve(name, h)
}
