//go:build !linux

package graph_test

import (
	"errors"
	"io"
)

// The epoll client (fanout_epoll_linux_test.go) needs Linux; elsewhere the
// fan-out benchmark's clients are the websocket client.
const epollClientsAvailable = false

func runEpollClients(string, []string, io.Writer) error {
	return errors.New("the epoll client runs on Linux only")
}
