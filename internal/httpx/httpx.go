// Package httpx holds the HTTP transport the server's outbound clients
// (Solana RPC, IPFS gateway) share: bounded dials and handshakes, pooled
// connections, proxies from the environment.
package httpx

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns a transport for calls to a few upstream hosts.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}
