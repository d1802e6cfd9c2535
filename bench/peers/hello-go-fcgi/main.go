// The Go FastCGI peer of bench/peers.sh: the standard library's
// net/http/fcgi serving a net/http handler on a Unix socket (it runs each
// connection and each request in its own goroutine, keeps connections and
// multiplexes them). Standard library only.
//
//	/       "Hello, world!\n" as text/plain
//	/echo   reads the body and answers a small JSON with its byte count
//	        and FNV-1a 64 hash, like anycgi echo's body_bytes/body_fnv1a64
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"strings"
)

var hello = []byte("Hello, world!\n")

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(hello)
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 65536)
	var bytes, fnv uint64 = 0, 0xcbf29ce484222325
	for {
		n, err := r.Body.Read(buf)
		for _, b := range buf[:n] {
			fnv ^= uint64(b)
			fnv *= 0x100000001b3
		}
		bytes += uint64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"body_bytes\": %d, \"body_fnv1a64\": \"%016x\"}\n", bytes, fnv)
}

func main() {
	listen := flag.String("listen", "unix:/tmp/hello-go-fcgi.sock", "unix:/path or 127.0.0.1:port")
	flag.Parse()
	network, addr := "tcp", *listen
	if strings.HasPrefix(addr, "unix:") {
		network, addr = "unix", strings.TrimPrefix(addr, "unix:")
		os.Remove(addr)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	if network == "unix" {
		os.Chmod(addr, 0666)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", helloHandler)
	mux.HandleFunc("/echo", echoHandler)
	log.Fatal(fcgi.Serve(ln, mux))
}
