// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol on top of
// SQLite) for the storage tests, so CI needs no MongoDB server. FerretDB
// listens on a loopback port of its own; -listen is a front that makes
// each write command atomic, as on MongoDB (see serial.go; -raw: none).
//
//	go run . -listen 127.0.0.1:27017 -dir /tmp/ferretdb
//
// It logs errors only (-v: info), prints "ready <uri>" on stdout once it
// accepts connections, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (loopback)")
	dir := flag.String("dir", "", "directory for the SQLite files (default: a new temporary directory, removed on exit)")
	raw := flag.Bool("raw", false, "serve FerretDB itself on -listen, without the front that makes each write atomic")
	verbose := flag.Bool("v", false, "log at info level (default: errors only)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %v", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen %q: only loopback addresses are allowed", *listen)
	}

	dataDir := *dir
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}

	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	inner := *listen
	var fl net.Listener
	if !*raw {
		fl, err = net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		defer fl.Close()
		inner, err = freeLoopbackAddr()
		if err != nil {
			return err
		}
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: inner},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dataDir + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// Announce readiness only once the port accepts connections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", inner, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			<-done
			return fmt.Errorf("not listening on %s after 30s: %v", inner, err)
		}
		select {
		case err := <-done:
			return fmt.Errorf("stopped before listening: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if fl != nil {
		go func() {
			if err := front(fl, inner); err != nil {
				logger.Error("front", "err", err)
				stop()
			}
		}()
	}
	addr := *listen
	if fl != nil {
		addr = fl.Addr().String() // the port chosen, when -listen asked for :0
	}
	fmt.Printf("ready mongodb://%s/\n", addr)

	return <-done
}

// freeLoopbackAddr returns a loopback address with a port nobody listens on.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
