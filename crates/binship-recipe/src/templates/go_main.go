// __NAME__: a minimal HTTP service made by `binship init --template go-http`.
// GET /health answers "ok"; --port sets the port; --version prints the version binship stamps
// in with -ldflags; SIGTERM (or Ctrl-C) shuts it down gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	port := flag.Int("port", 8080, "TCP port to listen on")
	showVersion := flag.Bool("version", false, "print the version and exit")
	probe := flag.Bool("probe", false, "exit 0 if GET /health on --port answers 200 (a container healthcheck)")
	flag.Parse()
	if *showVersion {
		fmt.Printf("__NAME__ %s (commit %s)\n", version, commit)
		return
	}
	if *probe {
		c := http.Client{Timeout: 2 * time.Second}
		r, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/health", *port))
		if err != nil || r.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *port), Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
