// go-id is a small ID service: GET /id returns a unique id, GET /health answers "ok".
// Flags: --port (default 7001), --version, --probe (healthcheck). It shuts down gracefully on SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

var counter uint64

func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	n := atomic.AddUint64(&counter, 1)
	return strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + strconv.FormatUint(n, 36) + "-" + hex.EncodeToString(b[:])
}

func main() {
	port := flag.Int("port", 7001, "port to listen on")
	showVersion := flag.Bool("version", false, "print the version and exit")
	probe := flag.Bool("probe", false, "check GET /health on 127.0.0.1:port and exit 0 if it answers 200 (a healthcheck for images without curl)")
	flag.Parse()
	if *showVersion {
		fmt.Printf("go-id %s (commit %s)\n", version, commit)
		return
	}
	if *probe {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(*port) + "/health")
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		return
	}
	if *port < 1 || *port > 65535 {
		log.Fatalf("port %d out of range", *port)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"id": newID()})
	})
	srv := &http.Server{Addr: ":" + strconv.Itoa(*port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("go-id %s listening on :%d", version, *port)
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	log.Print("go-id stopped")
}
