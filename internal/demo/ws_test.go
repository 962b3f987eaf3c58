package demo

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestWSEchoGreetsAndEchoes(t *testing.T) {
	u, err := WSEcho("chat-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	h := http.Header{"Sec-WebSocket-Protocol": {"other, echo.v1"}}
	c, _, err := websocket.DefaultDialer.Dial(strings.Replace(u.URL, "http://", "ws://", 1)+"/room/1?nick=me", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello map[string]string
	if err := c.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"upstream": "chat-test", "path": "/room/1", "query": "nick=me", "subprotocol": "echo.v1"}
	for k, v := range want {
		if hello[k] != v {
			t.Errorf("greeting %s = %q, want %q", k, hello[k], v)
		}
	}
	tests := []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "hi"}, {websocket.BinaryMessage, "\x00\x01"}}
	for _, tt := range tests {
		if err := c.WriteMessage(tt.typ, []byte(tt.data)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil || typ != tt.typ || string(got) != tt.data {
			t.Fatalf("echo: type %d %q %v, want type %d %q", typ, got, err, tt.typ, tt.data)
		}
	}
}
