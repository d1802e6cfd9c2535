// The "just write a little HTTP server" peer: a plain net/http program that
// nginx reaches with proxy_pass (keepalive). Standard library only.
//
//	/                  "Hello, world!\n" as text/plain
//	/upload            reads the body 64 KiB at a time and answers a small
//	                   JSON with its byte count and FNV-1a 64 hash
//	/download?size=N   N bytes of the alphabet pattern, with Content-Length
//
// It listens on -listen: unix:/path or host:port (127.0.0.1 only, please).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

var hello = []byte("Hello, world!\n")

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(hello)
}

func uploadHandler(w http.ResponseWriter, r *http.Request) {
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

var pattern = func() []byte {
	p := make([]byte, 65536)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}()

func downloadHandler(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 {
		http.Error(w, "size=N wanted", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	var sent int64
	for sent < size {
		off := sent % 26
		n := int64(len(pattern) - 26)
		if n > size-sent {
			n = size - sent
		}
		if _, err := w.Write(pattern[off : off+n]); err != nil {
			return
		}
		sent += n
	}
}

func main() {
	listen := flag.String("listen", "unix:/tmp/hello-go.sock", "unix:/path or 127.0.0.1:port")
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
	mux := http.NewServeMux()
	mux.HandleFunc("/", helloHandler)
	mux.HandleFunc("/upload", uploadHandler)
	mux.HandleFunc("/download", downloadHandler)
	log.Fatal(http.Serve(ln, mux))
}
