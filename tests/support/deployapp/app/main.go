// A tiny HTTP app to deploy in tests and benchmarks: answers its VERSION on /, its health on
// /healthz. FAIL_PERCENT makes that share of / answers 500; HEALTHY=false makes /healthz 503
// forever. Stops gracefully on SIGTERM (answers in flight finish).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	version := os.Getenv("VERSION")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	failPercent, _ := strconv.Atoi(os.Getenv("FAIL_PERCENT"))
	healthy := os.Getenv("HEALTHY") != "false"
	var count atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy {
			http.Error(w, "not healthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", version)
		n := count.Add(1)
		if failPercent > 0 && n%100 < int64(failPercent) {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, version)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
