// A bounded load generator: GET -url at -rate requests/s (at most -concurrency in flight)
// until -duration passes or SIGTERM; writes every answer to -out as
// "sent_unix_ms<TAB>status<TAB>version<TAB>latency_us" (status 0: transport error, with the
// error as version) and prints a JSON summary on stdout at the end.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type answer struct {
	sent    time.Time
	status  int
	version string
	latency time.Duration
}

func main() {
	url := flag.String("url", "", "what to GET")
	rate := flag.Int("rate", 250, "requests per second")
	concurrency := flag.Int("concurrency", 64, "most requests in flight")
	duration := flag.Duration("duration", time.Hour, "stop after this long")
	out := flag.String("out", "", "file for every answer")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}}
	answers := make(chan answer, 4096)
	slots := make(chan struct{}, *concurrency)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var wg sync.WaitGroup
	done := make(chan map[string]any)
	go record(*out, answers, done)
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	deadline := time.After(*duration)
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-deadline:
			break loop
		case <-tick.C:
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				answers <- get(client, *url)
			}()
		}
	}
	wg.Wait()
	close(answers)
	summary, _ := json.Marshal(<-done)
	fmt.Println(string(summary))
}

func get(client *http.Client, url string) answer {
	sent := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return answer{sent, 0, err.Error(), time.Since(sent)}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return answer{sent, resp.StatusCode, resp.Header.Get("X-Version"), time.Since(sent)}
}

func record(path string, answers <-chan answer, done chan<- map[string]any) {
	var f *os.File
	var w *bufio.Writer
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			panic(err)
		}
		w = bufio.NewWriter(f)
	}
	total, failed := 0, 0
	byStatus, byVersion := map[string]int{}, map[string]int{}
	var first, last time.Time
	for a := range answers {
		total++
		if a.status < 200 || a.status >= 300 {
			failed++
		}
		if first.IsZero() || a.sent.Before(first) {
			first = a.sent
		}
		if a.sent.After(last) {
			last = a.sent
		}
		byStatus[fmt.Sprint(a.status)]++
		if a.status >= 200 && a.status < 300 {
			byVersion[a.version]++
		}
		if w != nil {
			fmt.Fprintf(w, "%d\t%d\t%s\t%d\n", a.sent.UnixMilli(), a.status, a.version, a.latency.Microseconds())
		}
	}
	// The file is complete before the summary is reported: main exits right after it.
	if w != nil {
		if err := w.Flush(); err != nil {
			panic(err)
		}
		if err := f.Close(); err != nil {
			panic(err)
		}
	}
	seconds := last.Sub(first).Seconds()
	rate := 0.0
	if seconds > 0 {
		rate = float64(total) / seconds
	}
	done <- map[string]any{"total": total, "failed": failed, "by_status": byStatus,
		"by_version": byVersion, "seconds": seconds, "rate": rate}
}
